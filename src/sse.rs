//! STUB (replaced by the stream branch).
/// Stub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// Name.
    pub event: Option<String>,
    /// Data.
    pub data: String,
}
/// Stub.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
}
impl SseDecoder {
    /// Stub.
    pub fn new() -> Self {
        Self::default()
    }
    /// Stub.
    pub fn push(&mut self, b: &[u8], out: &mut Vec<SseEvent>) -> Result<(), String> {
        self.buf.extend_from_slice(b);
        while let Some(pos) = self.buf.windows(2).position(|w| w == b"\n\n") {
            let raw: Vec<u8> = self.buf.drain(..pos + 2).collect();
            let text = String::from_utf8_lossy(&raw).to_string();
            let mut ev = SseEvent {
                event: None,
                data: String::new(),
            };
            for line in text.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    ev.event = Some(v.to_owned());
                }
                if let Some(v) = line.strip_prefix("data: ") {
                    ev.data = v.to_owned();
                }
            }
            out.push(ev);
        }
        Ok(())
    }
    /// Stub.
    pub fn finish(&mut self, _out: &mut Vec<SseEvent>) -> Result<(), String> {
        Ok(())
    }
}
