import Dispatch

/// Runs tasks that prefer it on a serial dispatch queue of their own, so that their work never waits for a
/// cooperative thread another task is holding: the dispatcher keeps delivering however busy the API's handlers are.
final class QueueTaskExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked Sendable: the queue is immutable and thread-safe.
    private let queue: DispatchQueue

    init(label: String) { queue = DispatchQueue(label: label) }

    /// Tasks that prefer it run on `queue`, between the queue's other work.
    init(queue: DispatchQueue) { self.queue = queue }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
