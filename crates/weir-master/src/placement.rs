//! Admission control: where a job's subtasks may run, decided from memory alone.
//!
//! A subtask may go to a worker only if the worker is alive, its live RSS is under the high
//! watermark of its `memory.limit`, and its free budget (limit − reserved) holds the subtask's
//! reservation. Among those, the worker with the most free budget wins, which spreads subtasks.
//! A job's subtasks are placed all together or not at all: a half-placed job would hold memory
//! while doing nothing useful.

use weir_core::reservation::format_bytes;

/// What admission control needs to know about one worker.
#[derive(Debug, Clone)]
pub struct Capacity {
    pub worker_id: String,
    pub alive: bool,
    pub memory_limit: u64,
    pub reserved: u64,
    pub rss: u64,
}

impl Capacity {
    fn free(&self) -> u64 {
        self.memory_limit.saturating_sub(self.reserved)
    }

    fn over_watermark(&self, high_watermark: f64) -> bool {
        self.rss as f64 >= self.memory_limit as f64 * high_watermark
    }
}

/// Why a job's subtasks fit nowhere, in words for `weir job`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NoFit(pub String);

/// Picks a worker for each reservation in `needs`, or says why that is impossible.
///
/// `workers` is updated with the tentative reservations, so the caller can place several jobs
/// in one pass.
pub fn place(
    needs: &[u64],
    workers: &mut [Capacity],
    high_watermark: f64,
) -> Result<Vec<String>, NoFit> {
    let mut trial = workers.to_vec();
    let mut chosen = Vec::with_capacity(needs.len());
    for &need in needs {
        let best = trial
            .iter_mut()
            .filter(|worker| worker.alive && !worker.over_watermark(high_watermark))
            .filter(|worker| worker.free() >= need)
            .max_by_key(|worker| worker.free());
        match best {
            Some(worker) => {
                worker.reserved += need;
                chosen.push(worker.worker_id.clone());
            }
            None => return Err(explain(need, &trial, high_watermark)),
        }
    }
    workers.clone_from_slice(&trial);
    Ok(chosen)
}

fn explain(need: u64, workers: &[Capacity], high_watermark: f64) -> NoFit {
    let alive: Vec<&Capacity> = workers.iter().filter(|worker| worker.alive).collect();
    if alive.is_empty() {
        return NoFit(format!(
            "subtask needs {}; no live worker is registered",
            format_bytes(need)
        ));
    }
    let usable: Vec<&&Capacity> = alive
        .iter()
        .filter(|worker| !worker.over_watermark(high_watermark))
        .collect();
    if usable.is_empty() {
        let pressed: Vec<String> = alive
            .iter()
            .map(|worker| {
                format!(
                    "{} RSS {} of limit {}",
                    worker.worker_id,
                    format_bytes(worker.rss),
                    format_bytes(worker.memory_limit)
                )
            })
            .collect();
        return NoFit(format!(
            "subtask needs {}; every live worker is above its high watermark of {:.0}% ({})",
            format_bytes(need),
            high_watermark * 100.0,
            pressed.join(", ")
        ));
    }
    // `usable` is non-empty here, so a largest free budget exists.
    let largest = usable.iter().max_by_key(|worker| worker.free());
    match largest {
        Some(worker) => NoFit(format!(
            "subtask needs {}; largest free budget is {} on worker {}",
            format_bytes(need),
            format_bytes(worker.free()),
            worker.worker_id
        )),
        None => NoFit(format!("subtask needs {}", format_bytes(need))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn worker(id: &str, limit_mib: u64, reserved_mib: u64) -> Capacity {
        Capacity {
            worker_id: id.to_string(),
            alive: true,
            memory_limit: limit_mib * MIB,
            reserved: reserved_mib * MIB,
            rss: 20 * MIB,
        }
    }

    #[test]
    fn spreads_over_the_worker_with_most_free_budget() {
        let mut workers = vec![worker("w-1", 512, 0), worker("w-2", 512, 100)];
        let placed = place(&[100 * MIB, 100 * MIB, 100 * MIB], &mut workers, 0.9).unwrap();
        assert_eq!(placed, vec!["w-1", "w-2", "w-1"]);
        assert_eq!(workers[0].reserved, 200 * MIB);
        assert_eq!(workers[1].reserved, 200 * MIB);
    }

    #[test]
    fn all_or_nothing() {
        let mut workers = vec![worker("w-1", 300, 0)];
        let error = place(&[200 * MIB, 200 * MIB], &mut workers, 0.9).unwrap_err();
        assert_eq!(
            error.0,
            "subtask needs 200 MiB; largest free budget is 100 MiB on worker w-1"
        );
        assert_eq!(
            workers[0].reserved, 0,
            "a failed placement reserves nothing"
        );
    }

    #[test]
    fn dead_and_pressed_workers_take_nothing() {
        let mut dead = worker("w-1", 1024, 0);
        dead.alive = false;
        let error = place(&[MIB], &mut [dead.clone()], 0.9).unwrap_err();
        assert!(error.0.contains("no live worker"), "{error}");

        let mut pressed = worker("w-2", 100, 0);
        pressed.rss = 95 * MIB;
        let error = place(&[MIB], &mut [dead, pressed], 0.9).unwrap_err();
        assert!(error.0.contains("above its high watermark"), "{error}");
        assert!(
            error.0.contains("w-2 RSS 95 MiB of limit 100 MiB"),
            "{error}"
        );
    }
}
