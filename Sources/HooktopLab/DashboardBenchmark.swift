import Dashboard
import DeliveryCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Measures the dashboard against a real log without a terminal: first paint, the cost of a refresh of every view
/// (queries and rendering, separately), and the CPU the UI loop and the loader use while nothing happens.
///
/// `hooktop bench-dashboard` prints its result; the targets (issue 3) are a first paint within 300 ms, a refresh
/// within 10 ms and under 1% of a core while idle.
public struct DashboardBenchmark: Sendable {
    /// Refreshes measured per view. Default: 50.
    public var frames = 50
    /// Screen size. Default: 80x24.
    public var width = 80
    public var height = 24
    /// How long the idle session runs, in seconds (0 skips it). Default: 5.
    public var idleSeconds: Double = 5

    public init(frames: Int = 50, width: Int = 80, height: Int = 24, idleSeconds: Double = 5) {
        self.frames = frames
        self.width = width
        self.height = height
        self.idleSeconds = idleSeconds
    }

    /// p50, p95 and the maximum of a series, in milliseconds.
    public struct Percentiles: Sendable, Equatable {
        public var p50: Double
        public var p95: Double
        public var max: Double

        public init(_ values: [Double]) {
            let sorted = values.sorted()
            func at(_ q: Double) -> Double {
                sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * q).rounded()))]
            }
            p50 = at(0.5)
            p95 = at(0.95)
            max = sorted.last ?? 0
        }
    }

    /// One view's refreshes.
    public struct ViewTiming: Sendable {
        public var name: String
        /// Rows the view showed.
        public var rows: Int
        public var query: Percentiles
        public var render: Percentiles
        /// Query and render of each frame, added.
        public var frame: Percentiles
    }

    /// The dashboard loop left alone.
    public struct IdleUsage: Sendable {
        public var seconds: Double
        public var cpuSeconds: Double
        /// CPU time over wall time, in percent of one core.
        public var percentOfCore: Double
        /// Frames drawn while idle (the header clock ticks once a second).
        public var framesDrawn: Int
    }

    public struct Result: Sendable {
        /// State init + first load + first render of the Endpoints view, in milliseconds.
        public var firstPaintMilliseconds: Double
        public var firstPaintQueryMilliseconds: Double
        public var firstPaintRenderMilliseconds: Double
        public var views: [ViewTiming]
        public var idle: IdleUsage?
        /// Deliveries in the log (from the status counters).
        public var deliveries: Int
        public var endpoints: Int
        /// Peak resident memory of the process, in MiB.
        public var peakMemoryMiB: Double
    }

    /// Runs every measurement against `log`.
    /// - Parameters:
    ///   - log: the delivery log (open it read-only: nothing is changed).
    ///   - options: dashboard options (read-only is forced).
    ///   - progress: called with a line before each step.
    public func run(
        log: any DeliveryLogReader & DeliveryOperations, options: DashboardOptions,
        progress: (String) -> Void = { _ in }
    ) async -> Result {
        var options = options
        options.readOnly = true
        progress("first paint")
        let start = DispatchTime.now().uptimeNanoseconds
        var state = DashboardState(options: options, now: Date(), width: width, height: height)
        let first = await FrameTiming.measure(&state, from: log)
        let firstPaint = Self.milliseconds(since: start)

        var views: [ViewTiming] = []
        for view in ViewKind.allCases {
            progress("\(view.title): \(frames) refreshes")
            var state = DashboardState(options: options, now: Date(), width: width, height: height)
            _ = state.update(.command(.switchView(view)))
            _ = await FrameTiming.measure(&state, from: log)  // warm: the first page
            views.append(await measure(view.title, &state, log: log))
        }
        // The detail of the newest delivery: the heaviest single screen (attempts, headers, bodies).
        var detailState = DashboardState(options: options, now: Date(), width: width, height: height)
        _ = detailState.update(.command(.switchView(.deliveries)))
        await DashboardRenderer.load(&detailState, from: log)
        if detailState.selectedRow?.delivery != nil {
            progress("Detail: \(frames) refreshes")
            _ = detailState.update(.command(.open))
            _ = await FrameTiming.measure(&detailState, from: log)
            views.append(await measure("Detail", &detailState, log: log))
        }

        var idle: IdleUsage?
        if idleSeconds > 0 {
            progress(String(format: "idle session: %.0f s", idleSeconds))
            idle = measureIdle(log: log, options: options)
        }
        let totals = state.overview?.totals
        let deliveries = totals.map { t in DeliveryStatus.allCases.reduce(0) { $0 + t[$1] } } ?? 0
        return Result(
            firstPaintMilliseconds: firstPaint, firstPaintQueryMilliseconds: first.queryMilliseconds,
            firstPaintRenderMilliseconds: first.renderMilliseconds, views: views, idle: idle, deliveries: deliveries,
            endpoints: state.overview?.endpointCount ?? state.endpoints.count, peakMemoryMiB: Self.peakMemoryMiB())
    }

    private func measure(_ name: String, _ state: inout DashboardState, log: any DeliveryLogReader) async -> ViewTiming {
        var queries: [Double] = []
        var renders: [Double] = []
        for _ in 0..<max(1, frames) {
            _ = state.update(.clock(Date()))
            let timing = await FrameTiming.measure(&state, from: log)
            queries.append(timing.queryMilliseconds)
            renders.append(timing.renderMilliseconds)
        }
        return ViewTiming(
            name: name, rows: state.detail == nil ? state.rows.count : 1, query: Percentiles(queries),
            render: Percentiles(renders), frame: Percentiles(zip(queries, renders).map { $0 + $1 }))
    }

    /// Runs the real UI loop (background loader included) on a screen that never gets a key, and reads the
    /// process's CPU time before and after.
    private func measureIdle(log: any DeliveryLogReader & DeliveryOperations, options: DashboardOptions) -> IdleUsage {
        let screen = IdleScreen(width: width, height: height, seconds: idleSeconds)
        let session = DashboardSession(log: log, options: options, screen: screen)
        // Let the first load and paint happen before measuring.
        screen.onSettled = { Self.cpuSeconds() }
        session.run()
        let cpu = Self.cpuSeconds() - (screen.settledCPU ?? 0)
        let seconds = screen.measuredSeconds
        return IdleUsage(
            seconds: seconds, cpuSeconds: cpu, percentOfCore: seconds > 0 ? cpu / seconds * 100 : 0,
            framesDrawn: screen.framesAfterSettle)
    }

    static func milliseconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1_000_000
    }

    /// User + system CPU time of this process (every thread), in seconds.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1_000_000 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Peak resident set size of this process, in MiB.
    static func peakMemoryMiB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024  // KiB on Linux
    }
}

/// A screen that never gets a key: `readKey` waits its timeout the way a terminal's `poll` would, and a quit signal
/// comes `seconds` after the screen settled (the frame with loaded data, or one second after the first frame).
private final class IdleScreen: Screen {
    let size: (width: Int, height: Int)
    let supportsUnicode = true
    private let seconds: Double
    private var firstFrameAt: UInt64?
    private var settledAt: UInt64?
    private var framesDrawn = 0
    private var settleFrames = 0
    /// Called once when the measurement starts; returns the CPU time then.
    var onSettled: (() -> Double)?
    private(set) var settledCPU: Double?
    private(set) var measuredSeconds: Double = 0

    init(width: Int, height: Int, seconds: Double) {
        size = (width, height)
        self.seconds = seconds
    }

    var framesAfterSettle: Int { framesDrawn - settleFrames }

    func draw(_ grid: CellGrid, fullRedraw: Bool) {
        framesDrawn += 1
        if firstFrameAt == nil { firstFrameAt = DispatchTime.now().uptimeNanoseconds }
        if framesDrawn == 2 { settle() }
    }

    private func settle() {
        guard settledAt == nil else { return }
        settledAt = DispatchTime.now().uptimeNanoseconds
        settledCPU = onSettled?()
        settleFrames = framesDrawn
    }

    func readKey(timeoutMilliseconds: Int) -> Key? {
        if timeoutMilliseconds > 0 { usleep(UInt32(timeoutMilliseconds) * 1000) }
        return nil
    }

    func takeQuitSignal() -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        if settledAt == nil, let firstFrameAt, now - firstFrameAt > 1_000_000_000 { settle() }
        guard let settledAt else { return false }
        measuredSeconds = Double(now - settledAt) / 1_000_000_000
        return measuredSeconds >= seconds
    }

    /// No keys reach an idle screen, so neither a pager nor a copy is ever asked for.
    func page(_ text: String) -> String? { "no pager on an idle screen" }
    func copyToClipboard(_ text: String) {}
}
