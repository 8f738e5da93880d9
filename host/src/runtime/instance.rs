//! One fresh instance of a plugin, and the typed calls on it. Every call
//! runs under the instance's fuel, deadline, memory and output limits, and
//! every failure becomes a [`PluginError`].

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Instance, ResourceTable};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

use super::bindings::types as w;
use super::error::{PluginError, TrapKind};
use super::host_api::{HostCtx, LogLine};
use super::output::OutputSize;
use super::stdio::CappedOutput;
use super::{CallState, ExportIndices, Limits, LoadedPlugin, MemoryLimiter};
use crate::domain::*;

/// What a finished call leaves behind besides its result.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CallReport {
    /// Log lines (host `log`, then captured stdout/stderr), within the cap.
    pub logs: Vec<LogLine>,
    /// Lines or bytes dropped over the cap.
    pub dropped_log_lines: u64,
    /// Bytes of stdout/stderr dropped over the cap.
    pub dropped_output_bytes: u64,
    /// Fuel consumed by the whole instance (instantiation included).
    pub fuel_consumed: u64,
    /// Linear memory the instance had grown to (all its memories): what the
    /// `memory_bytes` limit is measured against.
    pub memory_bytes: u64,
}

/// A live instance. Dropping it frees the store; after any failure it is
/// poisoned and refuses further calls.
pub struct PluginInstance {
    store: Store<CallState>,
    instance: Instance,
    plugin: Arc<LoadedPlugin>,
    limits: Limits,
    stdout: CappedOutput,
    stderr: CappedOutput,
    poisoned: bool,
    // Typed export handles, looked up (and type-checked) once per instance
    // rather than once per call: verify + parse share them.
    adapter: Option<super::bindings::adapter::Guest>,
}

impl PluginInstance {
    pub(crate) fn new(
        engine: &Engine,
        plugin: Arc<LoadedPlugin>,
        limits: Limits,
        host: HostCtx,
        metering: bool,
    ) -> Result<Self, PluginError> {
        let stdout = CappedOutput::new(limits.log_bytes as usize);
        let stderr = CappedOutput::new(limits.log_bytes as usize);
        // Grants nothing: no preopens, env, args, network or name lookup.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        let state = CallState {
            wasi,
            table: ResourceTable::new(),
            host,
            limiter: MemoryLimiter {
                limit: limits.memory_bytes as usize,
                total: 0,
                exceeded: false,
            },
            clock: CallClock::new(),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        // Every value the guest hands the host (a call's result, an import's
        // arguments) is lifted under this budget, which wasmtime charges per
        // byte of every string and per element of every list *before*
        // copying. A list whose elements all alias one large guest buffer
        // therefore stops at the output cap instead of being copied once per
        // element: host memory per call stays within guest memory + output
        // cap + this slack.
        store.set_hostcall_fuel(hostcall_fuel(&limits));
        // A store starts with no fuel; the deadline is armed before
        // instantiation too, so a hostile start function cannot run forever.
        if metering {
            store
                .set_fuel(limits.fuel)
                .map_err(|e| PluginError::Unavailable(e.to_string()))?;
            // At each epoch tick: past the deadline, a trap; inline on an
            // async worker and past the slice, a yield (the rest of the call
            // then runs off the worker: `threads::drive`).
            store.epoch_deadline_callback(|mut ctx| {
                let clock = &mut ctx.data_mut().clock;
                clock.ticks += 1;
                Ok(if Instant::now() >= clock.deadline {
                    UpdateDeadline::Interrupt
                } else if super::threads::inline_now()
                    && clock.ticks >= super::threads::INLINE_SLICE_TICKS
                {
                    UpdateDeadline::Yield(1)
                } else {
                    UpdateDeadline::Continue(1)
                })
            });
        }
        let deadline = arm(&mut store, &limits, metering);
        let instance = match bounded(deadline, plugin.pre.instantiate_async(&mut store)) {
            Some(Ok(instance)) => instance,
            Some(Err(e)) => return Err(classify(&store, &limits, e, true)),
            None => {
                return Err(PluginError::Deadline {
                    deadline_ms: limits.deadline_ms,
                });
            }
        };
        // Re-arm so the deadline covers the calls, not instantiation.
        arm(&mut store, &limits, metering);
        Ok(PluginInstance {
            store,
            instance,
            plugin,
            limits,
            stdout,
            stderr,
            poisoned: false,
            adapter: None,
        })
    }

    /// The loaded plugin this instance runs.
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    /// The limits this call runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Fuel consumed so far.
    pub fn fuel_consumed(&self) -> u64 {
        // Without metering `get_fuel` errors; report zero.
        self.store
            .get_fuel()
            .map_or(0, |left| self.limits.fuel - left)
    }

    /// End the call and collect its logs.
    pub fn finish(mut self) -> CallReport {
        let fuel_consumed = self.fuel_consumed();
        let memory_bytes = self.store.data().limiter.total() as u64;
        let host = &mut self.store.data_mut().host;
        let mut logs = std::mem::take(&mut host.logs.lines);
        let dropped_log_lines = host.logs.dropped;
        let mut dropped_output_bytes = 0;
        for (stream, level) in [(&self.stdout, "stdout"), (&self.stderr, "stderr")] {
            let (bytes, dropped) = stream.take();
            dropped_output_bytes += dropped;
            for line in String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| !l.is_empty())
            {
                logs.push(LogLine {
                    level,
                    message: line.to_string(),
                    fields: Vec::new(),
                });
            }
        }
        CallReport {
            logs,
            dropped_log_lines,
            dropped_output_bytes,
            fuel_consumed,
            memory_bytes,
        }
    }

    fn adapter(&mut self) -> Result<super::bindings::adapter::Guest, PluginError> {
        if let Some(g) = &self.adapter {
            return Ok(g.clone());
        }
        let ExportIndices::Adapter(idx) = &self.plugin.exports else {
            return Err(PluginError::WrongWorld {
                expected: "channel-adapter",
                actual: self.plugin.detected.world.name(),
            });
        };
        let guest = idx
            .load(&mut self.store, &self.instance)
            .map_err(|e| PluginError::Incompatible(e.to_string()))?;
        self.adapter = Some(guest.clone());
        Ok(guest)
    }

    fn guard(&mut self) -> Result<super::bindings::guard::Guest, PluginError> {
        let ExportIndices::Guard(idx) = &self.plugin.exports else {
            return Err(PluginError::WrongWorld {
                expected: "guardrail",
                actual: self.plugin.detected.world.name(),
            });
        };
        idx.load(&mut self.store, &self.instance)
            .map_err(|e| PluginError::Incompatible(e.to_string()))
    }

    fn persona(&mut self) -> Result<super::bindings::prompt_builder::Guest, PluginError> {
        let ExportIndices::Persona(idx) = &self.plugin.exports else {
            return Err(PluginError::WrongWorld {
                expected: "persona",
                actual: self.plugin.detected.world.name(),
            });
        };
        idx.load(&mut self.store, &self.instance)
            .map_err(|e| PluginError::Incompatible(e.to_string()))
    }

    /// Run one guest call and classify its failure. A trap poisons the
    /// instance; a guest error does not.
    fn call<G, W>(
        &mut self,
        guest: G,
        call: impl AsyncFnOnce(&G, &mut Store<CallState>) -> wasmtime::Result<Result<W, w::PluginError>>,
    ) -> Result<W, PluginError> {
        if self.poisoned {
            return Err(PluginError::Unavailable(
                "this instance already failed; use a fresh one".into(),
            ));
        }
        let fuel_before = self.store.get_fuel().unwrap_or(0);
        let started = std::time::Instant::now();
        self.store.data_mut().clock.ticks = 0;
        // Epoch interruption stops a guest that computes; this deadline
        // stops one that waits in a host call (a WASI sleep or poll), by
        // abandoning the call's future.
        let deadline = self.store.data().clock.deadline;
        let result = match bounded(deadline, call(&guest, &mut self.store)) {
            None => {
                // The future was dropped mid-call: wasmtime unwinds the
                // guest's fiber, and the instance is never used again.
                self.poisoned = true;
                Err(PluginError::Deadline {
                    deadline_ms: self.limits.deadline_ms,
                })
            }
            Some(Err(e)) => {
                self.poisoned = true;
                Err(classify(&self.store, &self.limits, e, false))
            }
            Some(Ok(Err(guest_err))) => Err(PluginError::Guest(guest_err.into())),
            Some(Ok(Ok(value))) => Ok(value),
        };
        let fuel = fuel_before.saturating_sub(self.store.get_fuel().unwrap_or(0));
        let m = crate::metrics::metrics();
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => {
                match e {
                    PluginError::Trap { kind, .. } => m.trap(kind.code()),
                    PluginError::OutOfFuel { .. }
                    | PluginError::Deadline { .. }
                    | PluginError::MemoryLimit { .. } => m.trap(e.code()),
                    _ => {}
                }
                e.code()
            }
        };
        m.plugin_call(
            self.plugin.detected.world.name(),
            outcome,
            started.elapsed(),
            fuel,
        );
        result
    }

    /// Apply the output cap to a converted result.
    fn capped<D: OutputSize>(&self, value: D) -> Result<D, PluginError> {
        let size = value.output_bytes();
        if size > self.limits.output_bytes {
            return Err(PluginError::OutputTooLarge {
                what: "result",
                size,
                limit: self.limits.output_bytes,
            });
        }
        Ok(value)
    }

    /// `adapter.info`, with `configuration.secret-keys` when the adapter
    /// has that export (both describe the component, so callers cache them
    /// together).
    pub fn info(&mut self) -> Result<AdapterInfo, PluginError> {
        let g = self.adapter()?;
        let info = self.call(g, async |g, s| {
            g.call_info(s).await.map(Ok::<_, w::PluginError>)
        })?;
        let mut info = self.capped(AdapterInfo::from(info))?;
        info.secret_keys = self.secret_keys()?;
        info.accepted_media = self.accepted_media()?;
        self.capped(info)
    }

    /// `media.accepted-media`; empty (no media) for an adapter built
    /// before contract 0.1.2, which has no such export.
    fn accepted_media(&mut self) -> Result<Vec<String>, PluginError> {
        let Some(idx) = &self.plugin.media else {
            return Ok(Vec::new());
        };
        let g = idx
            .load(&mut self.store, &self.instance)
            .map_err(|e| PluginError::Incompatible(e.to_string()))?;
        self.call(g, async |g, s| {
            g.call_accepted_media(s).await.map(Ok::<_, w::PluginError>)
        })
    }

    /// `media.media-request`: the next step of fetching an inbound
    /// attachment; `unsupported` for an adapter without the `media` export.
    pub fn media_request(
        &mut self,
        attachment: &Attachment,
        previous: Option<&HttpResponse>,
    ) -> Result<MediaStep, PluginError> {
        let Some(idx) = &self.plugin.media else {
            return Err(PluginError::Guest(GuestError::Unsupported(
                "this adapter does not fetch media (it has no `media` export)".into(),
            )));
        };
        let g = idx
            .load(&mut self.store, &self.instance)
            .map_err(|e| PluginError::Incompatible(e.to_string()))?;
        let attachment: w::Attachment = attachment.clone().into();
        let previous: Option<w::HttpResponse> = previous.cloned().map(Into::into);
        let step = self.call(g, async |g, s| {
            g.call_media_request(s, &attachment, previous.as_ref())
                .await
        })?;
        self.capped(MediaStep::from(step))
    }

    /// `configuration.secret-keys`; `None` (every value is a secret) for an
    /// adapter built before contract 0.1.2, which has no such export.
    fn secret_keys(&mut self) -> Result<Option<Vec<String>>, PluginError> {
        let Some(idx) = &self.plugin.configuration else {
            return Ok(None);
        };
        let g = idx
            .load(&mut self.store, &self.instance)
            .map_err(|e| PluginError::Incompatible(e.to_string()))?;
        self.call(g, async |g, s| {
            g.call_secret_keys(s).await.map(Ok::<_, w::PluginError>)
        })
    }

    /// `adapter.verify`.
    pub fn verify(&mut self, request: &HttpRequest) -> Result<Option<HttpResponse>, PluginError> {
        self.verify_wit(&request.clone().into())
    }

    /// `adapter.parse`, with the event-count cap.
    pub fn parse(&mut self, request: &HttpRequest) -> Result<Vec<Event>, PluginError> {
        self.parse_wit(&request.clone().into())
    }

    /// `verify`, then `parse` when the request was accepted — the webhook
    /// path. The request is converted once and moved, not copied per call.
    pub fn verify_then_parse(
        &mut self,
        request: HttpRequest,
    ) -> Result<Verified, (AdapterCall, PluginError)> {
        let req: w::HttpRequest = request.into();
        match self
            .verify_wit(&req)
            .map_err(|e| (AdapterCall::Verify, e))?
        {
            Some(handshake) => Ok(Verified::Handshake(handshake)),
            None => self
                .parse_wit(&req)
                .map(Verified::Events)
                .map_err(|e| (AdapterCall::Parse, e)),
        }
    }

    fn verify_wit(&mut self, req: &w::HttpRequest) -> Result<Option<HttpResponse>, PluginError> {
        let g = self.adapter()?;
        let response = self.call(g, async |g, s| g.call_verify(s, req).await)?;
        self.capped(response.map(HttpResponse::from))
    }

    fn parse_wit(&mut self, req: &w::HttpRequest) -> Result<Vec<Event>, PluginError> {
        let g = self.adapter()?;
        let events = self.call(g, async |g, s| g.call_parse(s, req).await)?;
        // Counted before anything is converted or measured.
        let max = self.limits.max_events;
        if events.len() > max as usize {
            return Err(PluginError::OutputTooLarge {
                what: "event count",
                size: events.len() as u64,
                limit: u64::from(max),
            });
        }
        self.capped(events.into_iter().map(Event::from).collect::<Vec<_>>())
    }

    /// `adapter.render`.
    pub fn render(&mut self, message: &OutboundMessage) -> Result<HttpRequest, PluginError> {
        let g = self.adapter()?;
        let msg: w::OutboundMessage = message.clone().into();
        let req = self.call(g, async |g, s| g.call_render(s, &msg).await)?;
        self.capped(HttpRequest::from(req))
    }

    /// `templates.render-template`; `unsupported` for an adapter without the
    /// `templates` export (built against contract 0.1.0).
    pub fn render_template(
        &mut self,
        message: &TemplateMessage,
    ) -> Result<HttpRequest, PluginError> {
        let Some(idx) = &self.plugin.templates else {
            return Err(PluginError::Guest(GuestError::Unsupported(
                "this adapter does not send template messages (it has no `templates` export)"
                    .into(),
            )));
        };
        let g = idx
            .load(&mut self.store, &self.instance)
            .map_err(|e| PluginError::Incompatible(e.to_string()))?;
        let msg: w::TemplateMessage = message.clone().into();
        let req = self.call(g, async |g, s| g.call_render_template(s, &msg).await)?;
        self.capped(HttpRequest::from(req))
    }

    /// `adapter.parse-send-response`.
    pub fn parse_send_response(&mut self, response: &HttpResponse) -> Result<Receipt, PluginError> {
        let g = self.adapter()?;
        let resp: w::HttpResponse = response.clone().into();
        let receipt = self.call(g, async |g, s| g.call_parse_send_response(s, &resp).await)?;
        self.capped(Receipt::from(receipt))
    }

    /// `adapter.route-key`.
    pub fn route_key(&mut self, request: &HttpRequest) -> Result<Vec<String>, PluginError> {
        let g = self.adapter()?;
        let req: w::HttpRequest = request.clone().into();
        let keys = self.call(g, async |g, s| g.call_route_key(s, &req).await)?;
        self.capped(keys)
    }

    /// `guard.check-inbound` or `guard.check-outbound`, by direction.
    pub fn check(&mut self, context: &GuardrailContext) -> Result<Verdict, PluginError> {
        let g = self.guard()?;
        let ctx: w::GuardrailContext = context.clone().into();
        let verdict = match context.direction {
            Direction::Inbound => self.call(g, async |g, s| g.call_check_inbound(s, &ctx).await)?,
            Direction::Outbound => {
                self.call(g, async |g, s| g.call_check_outbound(s, &ctx).await)?
            }
        };
        self.capped(Verdict::from(verdict))
    }

    /// `prompt-builder.build-prompt`.
    pub fn build_prompt(&mut self, context: &PersonaContext) -> Result<Prompt, PluginError> {
        let g = self.persona()?;
        let ctx: w::PersonaContext = context.clone().into();
        let prompt = self.call(g, async |g, s| g.call_build_prompt(s, &ctx).await)?;
        self.capped(Prompt::from(prompt))
    }
}

/// What `verify_then_parse` produced.
#[derive(Debug)]
pub enum Verified {
    /// The adapter answered a handshake; nothing to parse.
    Handshake(HttpResponse),
    /// The request was accepted and parsed.
    Events(Vec<Event>),
}

/// Which adapter call failed in `verify_then_parse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterCall {
    Verify,
    Parse,
}

/// Run `future` to completion on this thread (`threads::drive`), or give
/// up on it at `deadline` (`None`).
fn bounded<T>(deadline: Instant, future: impl Future<Output = T>) -> Option<T> {
    super::threads::drive(
        async move { tokio::time::timeout_at(deadline.into(), future).await.ok() },
    )
}

/// Headroom over the output cap for one lift: list and record headers,
/// the fixed fields of a result.
const HOSTCALL_SLACK: u64 = 64 << 10;

fn hostcall_fuel(limits: &Limits) -> usize {
    usize::try_from(limits.output_bytes.saturating_add(HOSTCALL_SLACK)).unwrap_or(usize::MAX)
}

/// Arm both deadlines `deadline_ms` from now: the one the epoch callback
/// checks (for a guest that computes) and the returned wall-clock one (for
/// a guest that waits in a host call).
fn arm(store: &mut Store<CallState>, limits: &Limits, metering: bool) -> Instant {
    let deadline = Instant::now() + Duration::from_millis(limits.deadline_ms);
    let clock = &mut store.data_mut().clock;
    clock.deadline = deadline;
    clock.ticks = 0;
    if metering {
        store.set_epoch_deadline(1);
    }
    deadline
}

/// What the epoch callback checks: when the calls must have returned, and
/// how many ticks the current one has seen running (for its inline slice).
pub(crate) struct CallClock {
    deadline: Instant,
    ticks: u32,
}

impl CallClock {
    fn new() -> Self {
        CallClock {
            deadline: Instant::now(),
            ticks: 0,
        }
    }
}

/// Turn a wasmtime error into the typed error a tenant sees.
fn classify(
    store: &Store<CallState>,
    limits: &Limits,
    e: wasmtime::Error,
    instantiating: bool,
) -> PluginError {
    if store.data().limiter.exceeded {
        return PluginError::MemoryLimit {
            limit: limits.memory_bytes,
        };
    }
    if let Some(trap) = e.downcast_ref::<Trap>() {
        let kind = match trap {
            Trap::OutOfFuel => {
                return PluginError::OutOfFuel {
                    budget: limits.fuel,
                };
            }
            Trap::Interrupt => {
                return PluginError::Deadline {
                    deadline_ms: limits.deadline_ms,
                };
            }
            Trap::StackOverflow => TrapKind::StackOverflow,
            Trap::UnreachableCodeReached => TrapKind::Unreachable,
            Trap::MemoryOutOfBounds | Trap::TableOutOfBounds | Trap::HeapMisaligned => {
                TrapKind::OutOfBounds
            }
            Trap::IntegerOverflow | Trap::IntegerDivisionByZero | Trap::BadConversionToInteger => {
                TrapKind::Arithmetic
            }
            _ => TrapKind::Other,
        };
        return PluginError::Trap {
            kind,
            detail: trap.to_string(),
        };
    }
    if is_hostcall_fuel_exhausted(&e) {
        return PluginError::OutputTooLarge {
            what: "data passed to the host",
            size: limits.output_bytes.saturating_add(HOSTCALL_SLACK),
            limit: limits.output_bytes,
        };
    }
    if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return PluginError::Unavailable("all plugin instance slots are busy".into());
    }
    if instantiating {
        return PluginError::Unavailable(format!(
            "instantiation failed: {}",
            super::root_message(&e)
        ));
    }
    // Host-side errors raised inside a call (e.g. a lifting failure on
    // malformed guest output) count as traps of the plugin.
    PluginError::Trap {
        kind: TrapKind::Other,
        detail: super::root_message(&e),
    }
}

/// wasmtime's error for a lift that ran out of hostcall fuel is private; its
/// message is the only handle (pinned by the hostile-guest tests).
fn is_hostcall_fuel_exhausted(e: &wasmtime::Error) -> bool {
    e.chain()
        .any(|c| c.to_string().contains("fuel allocated for hostcalls"))
}
