//! HTTP tests: the real server on 127.0.0.1:0 (in-process, real sockets),
//! the real `whatsapp-cloud` component, Meta's payloads from
//! `tests/fixtures/`. Every test runs on SQLite, and again on PostgreSQL
//! when `SWITCHBOARD_TEST_POSTGRES_URL` is set (CI sets it).

mod browser;
mod console;
mod console_admin;
mod console_browser;
mod console_plugins;
mod contacts;
mod content;
mod conversation;
mod crash;
mod events;
mod fuzz;
mod guardrails;
mod harness;
mod isolation;
mod lifecycle;
mod media;
mod mock;
mod personas;
mod platform;
mod plugin_author;
mod plugins;
mod polyglot;
mod recovery;
mod sandbox;
mod secrets;
mod serving;
mod shared;
mod telegram;
mod twilio;
mod webchat;
mod webchat_browser;
mod webhook_endpoints;
mod webhooks;
