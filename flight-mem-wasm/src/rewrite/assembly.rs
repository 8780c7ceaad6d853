//! The output put together while the workers rewrite: see [`Assembly`].

use super::ChunkResult;
use crate::write;
use std::sync::Mutex;

/// The output being put together while the workers run: once `beside`
/// has started it ([`Assembly::start`]), each chunk's entries are copied
/// in as soon as it and every chunk before it are done, by the worker that
/// finds them so (the copy of the whole code was `write`'s serial work).
pub(crate) struct Assembly<'s> {
    /// The writer and the next chunk it takes.
    pub(super) writer: Mutex<(Option<write::Writer>, usize)>,
    pub(super) slots: &'s [Mutex<Option<ChunkResult>>],
}

impl Assembly<'_> {
    /// Hands over the output, written up to the code section's entries;
    /// the chunks done so far are appended at once.
    pub(crate) fn start(&self, writer: write::Writer) {
        self.writer.lock().unwrap_or_else(|e| e.into_inner()).0 = Some(writer);
        self.drain(true);
    }

    /// Appends the chunks done, in order, up to the first not done (or
    /// failed: the output is then dropped). Unless `wait`, only if no other
    /// worker is at it (the chunks it finds done are appended later).
    pub(super) fn drain(&self, wait: bool) {
        let mut guard = match self.writer.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) if wait => {
                self.writer.lock().unwrap_or_else(|e| e.into_inner())
            }
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        let (writer, next) = &mut *guard;
        let Some(writer) = writer else { return };
        while let Some(slot) = self.slots.get(*next) {
            match &*slot.lock().unwrap_or_else(|e| e.into_inner()) {
                Some(Ok(chunk)) => writer.append(chunk),
                _ => break,
            }
            *next += 1;
        }
    }
}
