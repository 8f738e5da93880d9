"""A persona in Python: builds the responder's prompt. The host wraps
whatever it returns with the platform's safety rules."""

from wit_world import exports
from wit_world.imports.types import PersonaContext, Prompt


class PromptBuilder(exports.PromptBuilder):
    def build_prompt(self, context: PersonaContext) -> Prompt:
        return Prompt(
            system=f"You are {context.display_name}. Answer briefly and kindly.",
            context=None if context.contact_name is None else f"The user is {context.contact_name}.",
        )
