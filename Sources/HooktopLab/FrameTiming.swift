import Dashboard
import DeliveryCore
import Foundation

/// Timing of one frame, for `hooktop bench-dashboard`.
public struct FrameTiming: Sendable {
    /// Running the visible queries, in milliseconds.
    public var queryMilliseconds: Double
    /// Building the cell grid, in milliseconds.
    public var renderMilliseconds: Double
    public var grid: CellGrid

    /// Loads and renders one frame of `state`, measuring each part.
    public static func measure(_ state: inout DashboardState, from log: any DeliveryLogReader) async -> FrameTiming {
        let start = DispatchTime.now().uptimeNanoseconds
        let snapshot = await DataSnapshot.load(state.dataRequest, from: log, now: state.now)
        let loaded = DispatchTime.now().uptimeNanoseconds
        _ = state.update(.dataLoaded(snapshot))
        let grid = DashboardRenderer.render(state)
        let end = DispatchTime.now().uptimeNanoseconds
        return FrameTiming(
            queryMilliseconds: Double(loaded - start) / 1_000_000, renderMilliseconds: Double(end - loaded) / 1_000_000,
            grid: grid)
    }
}
