import Synchronization

/// Gathers concurrent publishes into shared transactions (group commit).
///
/// While one group commits, the requests that arrive wait together; the next transaction holds all of them, so a
/// commit's cost is shared by every request waiting for it. A request is answered only after the commit that holds
/// its events. When more events wait than `capacity`, a new request is refused at once with
/// `HooktopError.overloaded` instead of queueing without bound.
final class PublishCommitter: Sendable {
    /// Records groups of events in one transaction: one result per group, in order.
    typealias Commit = @Sendable ([[PublishRequest]]) async throws -> [Result<[PublishResult], any Error>]

    /// Limits of the waiting line.
    struct Limits: Sendable {
        /// Most events waiting (committing included) before new requests are refused.
        var events = 20_000
        /// Most payload bytes waiting before new requests are refused.
        var bytes = 64 << 20
        /// Most events in one transaction; the rest wait for the next.
        var eventsPerCommit = 4_000
    }

    private struct Waiting {
        var requests: [PublishRequest]
        var bytes: Int
        var continuation: CheckedContinuation<[PublishResult], any Error>
    }

    private struct State {
        var waiting: [Waiting] = []
        /// Events and bytes waiting or committing.
        var events = 0
        var bytes = 0
        var committing = false
    }

    private let state = Mutex(State())
    private let commit: Commit
    private let limits: Limits
    /// Called after each commit that recorded something (wakes the dispatcher).
    private let committed: @Sendable () -> Void

    /// Where the commit loop runs (nil: the global executor).
    private let executor: (any TaskExecutor)?

    init(
        limits: Limits = Limits(), executor: (any TaskExecutor)? = nil, commit: @escaping Commit,
        committed: @escaping @Sendable () -> Void
    ) {
        self.limits = limits
        self.executor = executor
        self.commit = commit
        self.committed = committed
    }

    /// Events waiting or committing.
    var waiting: Int { state.withLock { $0.events } }

    /// Records `requests` (validated) all or none, in the next transaction.
    /// - Throws: `HooktopError.overloaded` when too much is waiting; otherwise what recording them threw.
    func publish(_ requests: [PublishRequest]) async throws -> [PublishResult] {
        let bytes = requests.reduce(0) { $0 + $1.payload.utf8.count }
        return try await withCheckedThrowingContinuation { continuation in
            let start = state.withLock { state -> Bool? in
                // An empty line takes any one request, so a request within the API's own limits always fits.
                if state.events > 0,
                    state.events + requests.count > limits.events || state.bytes + bytes > limits.bytes
                {
                    return nil
                }
                state.waiting.append(Waiting(requests: requests, bytes: bytes, continuation: continuation))
                state.events += requests.count
                state.bytes += bytes
                if state.committing { return false }
                state.committing = true
                return true
            }
            switch start {
            case nil:
                continuation.resume(
                    throwing: HooktopError(
                        .overloaded, "the log is not keeping up: \(limits.events) events are waiting to be recorded"))
            case true?:
                Task(executorPreference: executor) { await self.drain() }
            case false?:
                break
            }
        }
    }

    /// Commits what waits, group after group, until nothing does.
    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Waiting] in
                var taken = 0
                var count = 0
                while count < state.waiting.count, taken == 0 || taken + state.waiting[count].requests.count <= limits.eventsPerCommit {
                    taken += state.waiting[count].requests.count
                    count += 1
                }
                if count == 0 { state.committing = false }
                defer { state.waiting.removeFirst(count) }
                return Array(state.waiting.prefix(count))
            }
            guard !batch.isEmpty else { return }
            let results: [Result<[PublishResult], any Error>]
            do {
                let committed = try await commit(batch.map(\.requests))
                precondition(committed.count == batch.count, "a commit answers every group")
                results = committed
            } catch {
                results = Array(repeating: .failure(error), count: batch.count)
            }
            state.withLock { state in
                state.events -= batch.reduce(0) { $0 + $1.requests.count }
                state.bytes -= batch.reduce(0) { $0 + $1.bytes }
            }
            var recorded = false
            for (waiting, result) in zip(batch, results) {
                if case .success(let published) = result, published.contains(where: { !$0.duplicate }) {
                    recorded = true
                }
                waiting.continuation.resume(with: result)
            }
            if recorded { committed() }
        }
    }
}
