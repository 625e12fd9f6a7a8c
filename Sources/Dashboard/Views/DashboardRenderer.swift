import DeliveryCore
import Foundation

/// Turns state into cells: the pure view function, and a headless API for tests and benchmarks.
public enum DashboardRenderer {
    /// Draws the whole screen for `state` at its size.
    public static func render(_ state: DashboardState) -> CellGrid {
        var grid = CellGrid(width: state.width, height: state.height)
        grid.ellipsis = state.glyphs.ellipsis
        grid.asciiOnly = state.glyphs == .ascii
        guard grid.width > 0, grid.height > 0 else { return grid }
        if state.isTooSmall {
            drawTooSmall(state, into: &grid)
            return grid
        }
        HeaderView.draw(state, into: &grid)
        let bodyY = DashboardState.headerHeight
        let bodyHeight = grid.height - DashboardState.headerHeight - DashboardState.footerHeight
        var rowCount: Int?
        if let detail = state.detail {
            DetailView.draw(state, detail: detail, y: bodyY, height: bodyHeight, into: &grid)
        } else {
            // The rows are worked out once per frame; only the visible ones become cells.
            let rows = state.rows
            rowCount = rows.count
            drawList(state, rows: rows, y: bodyY, height: bodyHeight, into: &grid)
        }
        FooterView.draw(state, rowCount: rowCount, into: &grid)
        OverlayView.draw(state, into: &grid)
        return grid
    }

    /// Renders `state` at `width`×`height` (the state's own size is replaced).
    public static func render(_ state: DashboardState, width: Int, height: Int) -> CellGrid {
        var sized = state
        _ = sized.update(.resize(width: width, height: height))
        return render(sized)
    }

    /// Loads data for `state`'s current view from `log` and applies it: the headless way to get a state that shows
    /// real content.
    public static func load(_ state: inout DashboardState, from log: any DeliveryLogReader) async {
        // Twice: a view whose request depends on loaded data (an expanded failure group) settles on the second pass.
        for _ in 0..<2 {
            let snapshot = await DataSnapshot.load(state.dataRequest, from: log, now: state.now)
            _ = state.update(.dataLoaded(snapshot))
        }
    }

    private static func drawTooSmall(_ state: DashboardState, into grid: inout CellGrid) {
        let need = "need \(DashboardState.minimumWidth)x\(DashboardState.minimumHeight)"
        let lines = ["terminal too small", "(\(state.width)x\(state.height), \(need))", "q quits"]
        let top = max(0, (grid.height - lines.count) / 2)
        for (i, line) in lines.enumerated() {
            let x = max(0, (grid.width - DisplayWidth.of(line)) / 2)
            grid.put(line, x: x, y: top + i, style: Style(i == 0 ? .error : .normal, bold: i == 0))
        }
    }

    private static func drawList(_ state: DashboardState, rows: [ListRow], y: Int, height: Int, into grid: inout CellGrid) {
        let list = state.list
        let columns: [Column] =
            switch state.view {
            case .endpoints: EndpointsView.columns
            case .deliveries: DeliveriesView.columns(sort: state.sort, glyphs: state.glyphs)
            case .failures: FailuresView.columns
            case .retryQueue: RetryQueueView.columns
            case .events: EventsView.columns
            }
        grid.drawTable(
            columns: columns, rowCount: rows.count, top: list.top, selected: rows.isEmpty || list.lost ? nil : list.selectedIndex,
            y: y, height: height, glyphs: state.glyphs,
            cells: { index in
                switch rows[index] {
                case .endpoint(let s): EndpointsView.cells(s, name: state.endpointName(s.endpoint.id), glyphs: state.glyphs, now: state.now)
                case .delivery(let d):
                    state.view == .retryQueue
                        ? RetryQueueView.cells(d, state: state) : DeliveriesView.cells(d, state: state)
                case .group(let g, let expanded): FailuresView.cells(g, expanded: expanded, state: state)
                case .message(let m): EventsView.cells(m, state: state)
                case .groupDelivery(_, let d): DeliveriesView.cells(d, state: state)
                }
            },
            fullRow: { index in
                if case .groupDelivery(_, let d) = rows[index] { return FailuresView.child(d, state: state) }
                return nil
            })
        if rows.isEmpty {
            let text = state.loaded ? emptyText(state) : "loading…"
            grid.put(text, x: 2, y: y + 2, style: Style(.dim), maxWidth: grid.width - 4)
        }
    }

    private static func emptyText(_ state: DashboardState) -> String {
        if !state.filter.isEmpty { return "nothing matches the filter (Esc clears it)" }
        switch state.view {
        case .endpoints: return "no endpoints yet: hooktop endpoint add <url>"
        case .deliveries: return "no deliveries yet"
        case .failures: return "no failing deliveries"
        case .retryQueue: return "the retry queue is empty"
        case .events: return "no events published yet"
        }
    }
}
