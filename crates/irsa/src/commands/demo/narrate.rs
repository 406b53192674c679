//! Plain-words narration of the demo steps, and the tally that decides the exit code.

/// Prints numbered steps and remembers whether every expectation held.
#[derive(Debug, Default)]
pub struct Narrator {
    step: usize,
    failures: Vec<String>,
}

impl Narrator {
    /// Starts a step.
    pub fn step(&mut self, title: &str) {
        self.step += 1;
        println!("\n[{}] {title}", self.step);
    }

    /// A detail of the current step.
    pub fn say(&self, line: impl AsRef<str>) {
        for l in line.as_ref().lines() {
            println!("    {l}");
        }
    }

    /// The step behaved as expected.
    pub fn ok(&self, what: impl AsRef<str>) {
        println!("    ok: {}", what.as_ref());
    }

    /// The step did not behave as expected; the demo goes on but will exit non-zero.
    pub fn fail(&mut self, what: impl Into<String>) {
        let what = what.into();
        println!("    FAILED: {what}");
        self.failures.push(format!("step {}: {what}", self.step));
    }

    /// Records `Ok`/`Err` of a check.
    pub fn check(&mut self, result: Result<String, String>) {
        match result {
            Ok(s) => self.ok(s),
            Err(e) => self.fail(e),
        }
    }

    /// What went wrong, if anything.
    pub fn failures(&self) -> &[String] {
        &self.failures
    }
}
