import Synchronization

/// Where background work (the loader, operations) posts actions for the UI loop to pick up.
final class Mailbox: Sendable {
    private let pending = Mutex<[Action]>([])

    func post(_ action: Action) {
        pending.withLock { $0.append(action) }
    }

    /// Everything posted since the last call, oldest first.
    func drain() -> [Action] {
        pending.withLock { actions in
            defer { actions = [] }
            return actions
        }
    }
}
