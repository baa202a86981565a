//! Where progress bars draw: on a terminal, stderr; elsewhere (a log, a pipe, a test) nowhere,
//! since each bar prints its own plain lines there instead.

use indicatif::ProgressDrawTarget;

/// stderr when it is a terminal, else hidden.
pub(crate) fn draw_target() -> ProgressDrawTarget {
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}
