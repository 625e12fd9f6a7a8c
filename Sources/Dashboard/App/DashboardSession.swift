import DeliveryCore
import Foundation

/// The UI loop: reads keys, drains loaded data and operation results, updates the state, draws when needed.
///
/// Runs on the calling thread, which is the only one that touches `screen`.
public final class DashboardSession {
    public private(set) var state: DashboardState
    private let screen: any Screen
    private let clock: @Sendable () -> Date
    private let mailbox = Mailbox()
    private let loader: DataLoader
    private let runner: OperationRunner
    private var lastRequest: DataRequest?
    private var lastFrame: CellGrid?
    private var lastSecond: Int = 0

    /// Wait for input at most this long, in milliseconds, so loaded data shows within that time.
    static let inputTimeout = 100

    public init(
        log: any DeliveryLogReader & DeliveryOperations, options: DashboardOptions, screen: any Screen,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.screen = screen
        self.clock = clock
        let size = screen.size
        state = DashboardState(
            options: options, now: clock(), width: size.width, height: size.height,
            glyphs: screen.supportsUnicode ? .unicode : .ascii)
        loader = DataLoader(log: log, mailbox: mailbox, interval: options.pollInterval, clock: clock)
        let loader = self.loader
        runner = OperationRunner(log: log, actor: options.actor, mailbox: mailbox, changed: { loader.poke() })
    }

    /// Runs until the user quits or a quit signal arrives.
    public func run() {
        loader.start()
        defer { loader.stop() }
        syncRequest()
        var fullRedraw = false
        while !state.quitting {
            var actions: [Action] = []
            if screen.takeQuitSignal() { break }
            if let key = screen.readKey(timeoutMilliseconds: Self.inputTimeout) {
                if key == .resize {
                    let size = screen.size
                    actions.append(.resize(width: size.width, height: size.height))
                } else {
                    actions.append(.key(key))
                }
                // Take whatever else is already typed before drawing (fast key repeat stays responsive).
                while actions.count < 64, let more = screen.readKey(timeoutMilliseconds: 0) {
                    actions.append(
                        more == .resize ? .resize(width: screen.size.width, height: screen.size.height) : .key(more))
                }
            }
            actions += mailbox.drain()
            let now = clock()
            let second = Int(now.timeIntervalSince1970)
            if second != lastSecond {
                lastSecond = second
                actions.append(.clock(now))
            }
            for action in actions {
                for effect in state.update(action) {
                    switch effect {
                    case .quit: break
                    case .redrawAll: fullRedraw = true
                    case .perform(let operation): runner.perform(operation)
                    case .countRecoverable(let endpointId, let since):
                        runner.countRecoverable(endpointId: endpointId, since: since)
                    case .countReplay(let filter):
                        runner.countReplay(filter)
                    case .page(let text):
                        if let problem = screen.page(text) { state.say(problem, .error) }
                        fullRedraw = true
                    case .copy(let text):
                        screen.copyToClipboard(text)
                    }
                }
            }
            if state.quitting { break }
            syncRequest()
            guard !actions.isEmpty || lastFrame == nil else { continue }
            let grid = DashboardRenderer.render(state)
            if grid != lastFrame || fullRedraw {
                screen.draw(grid, fullRedraw: fullRedraw)
                lastFrame = grid
                fullRedraw = false
            }
        }
    }

    private func syncRequest() {
        let request = state.dataRequest
        if request != lastRequest {
            lastRequest = request
            loader.set(request)
        }
    }
}
