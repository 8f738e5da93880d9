// A persona in JavaScript: builds the responder's prompt. The host wraps
// whatever it returns with the platform's safety rules.
export const promptBuilder = {
  buildPrompt(context) {
    return {
      system: `You are ${context.displayName}. Answer briefly and kindly.`,
      context: context.contactName === undefined ? undefined : `The user is ${context.contactName}.`,
    };
  },
};
