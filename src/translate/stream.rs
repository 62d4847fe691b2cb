//! STUB (replaced by the stream branch).
use crate::anthropic::ApiError;
use crate::anthropic::stream::{Event, StopReason, Usage};
use crate::translate::tool_names::ToolNames;
/// Stub.
pub struct StreamContext {
    /// Id.
    pub message_id: String,
    /// Model.
    pub client_model: String,
    /// Estimate.
    pub input_tokens_estimate: u64,
    /// Names.
    pub tool_names: ToolNames,
}
/// Stub.
pub struct ChatStream {
    ctx: StreamContext,
    done: bool,
    failure: Option<ApiError>,
}
impl ChatStream {
    /// Stub.
    pub fn new(ctx: StreamContext) -> Self {
        ChatStream {
            ctx,
            done: false,
            failure: None,
        }
    }
    /// Stub.
    pub fn start(&mut self, out: &mut Vec<Event>) {
        out.push(Event::MessageStart {
            id: self.ctx.message_id.clone(),
            model: self.ctx.client_model.clone(),
            usage: Usage::default(),
        });
    }
    /// Stub.
    pub fn push(&mut self, _b: &[u8], _out: &mut Vec<Event>) {}
    /// Stub.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        if !self.done {
            self.done = true;
            out.push(Event::MessageDelta {
                stop_reason: StopReason::EndTurn,
                stop_sequence: None,
                usage: Usage::default(),
            });
            out.push(Event::MessageStop);
        }
    }
    /// Stub.
    pub fn fail(&mut self, e: ApiError, out: &mut Vec<Event>) {
        if !self.done {
            self.done = true;
            out.push(Event::Error(e.clone()));
            self.failure = Some(e);
        }
    }
    /// Stub.
    pub fn is_finished(&self) -> bool {
        self.done
    }
    /// Stub.
    pub fn usage(&self) -> Usage {
        Usage::default()
    }
    /// Stub.
    pub fn failure(&self) -> Option<&ApiError> {
        self.failure.as_ref()
    }
}
