import DeliveryCore
import Foundation

extension DashboardState {
    /// The selected row of the current view, if any.
    public var selectedRow: Row? {
        let rows = self.rows
        guard !rows.isEmpty else { return nil }
        let index = min(max(0, list.selectedIndex), rows.count - 1)
        return rows[index]
    }

    /// Moves the selection; past the end of the loaded page it asks for the next page (keyset cursor), past the top
    /// of a later page for the previous one.
    mutating func move(by delta: Int) {
        let rows = self.rows
        var list = self.list
        guard !rows.isEmpty else { return }
        let current = min(max(0, list.selectedIndex), rows.count - 1)
        let target = current + delta
        if target >= rows.count, delta > 0, current == rows.count - 1, let cursor = nextPageCursor(rows) {
            list.pages.append(cursor)
            self.list = list
            loaded = false
            say("loading older rows…")
            return
        }
        if target < 0, delta < 0, current == 0, !list.pages.isEmpty {
            list.pages.removeLast()
            self.list = list
            loaded = false
            say("loading newer rows…")
            return
        }
        list.selectedIndex = min(max(0, target), rows.count - 1)
        list.selectedKey = rows[list.selectedIndex].key
        self.list = list
        keepSelectionVisible(rowCount: rows.count)
    }

    mutating func moveToTop() {
        var list = self.list
        if !list.pages.isEmpty {
            list.pages = []
            loaded = false
        }
        list.selectedIndex = 0
        list.top = 0
        list.selectedKey = list.pages.isEmpty ? rows.first?.key : nil
        self.list = list
    }

    /// A cursor that starts the next page halfway into the current one, so the selected row stays loaded.
    private func nextPageCursor(_ rows: [Row]) -> PageCursor? {
        let size = options.pageSize
        switch view {
        case .deliveries:
            guard deliveries.count >= size, deliveries.count >= 2 else { return nil }
            return .deliveriesBefore(deliveries[deliveries.count / 2].id + 1)
        case .retryQueue:
            guard retryQueue.count >= size, retryQueue.count >= 2 else { return nil }
            let row = retryQueue[retryQueue.count / 2 - 1]
            return .retryAfter(row.nextAttemptAt ?? .distantPast, row.id)
        case .events:
            guard messages.count >= size, messages.count >= 2 else { return nil }
            return .messagesBefore(messages[messages.count / 2].sequence + 1)
        case .endpoints, .failures:
            return nil
        }
    }

    /// After rows change: finds the selected key again (same row, new index) and keeps it on screen.
    mutating func syncSelection() {
        let rows = self.rows
        var list = self.list
        guard !rows.isEmpty else {
            list.selectedIndex = 0
            list.top = 0
            self.list = list
            return
        }
        let oldIndex = list.selectedIndex
        if let key = list.selectedKey, let index = rows.firstIndex(where: { $0.key == key }) {
            list.selectedIndex = index
            // Rows arriving above a scrolled list shift it so the selected row stays where it was on screen;
            // at the very top the list shows the new rows and the selection moves down with its row.
            if list.top > 0 { list.top = max(0, list.top + index - oldIndex) }
        } else {
            list.selectedIndex = min(max(0, list.selectedIndex), rows.count - 1)
        }
        list.selectedKey = rows[list.selectedIndex].key
        self.list = list
        keepSelectionVisible(rowCount: rows.count)
    }

    /// Adjusts `top` so the selected row is inside the visible body (`rowCount`: the rows, when already known).
    mutating func keepSelectionVisible(rowCount: Int? = nil) {
        var list = self.list
        let visible = bodyRows
        let count = rowCount ?? rows.count
        if list.selectedIndex < list.top { list.top = list.selectedIndex }
        if list.selectedIndex >= list.top + visible { list.top = list.selectedIndex - visible + 1 }
        list.top = max(0, min(list.top, max(0, count - visible)))
        self.list = list
    }

    /// A mouse click on screen row `y`: selects the list row there.
    mutating func click(y: Int) -> [Effect] {
        guard modal == nil, detail == nil else { return [] }
        let first = Self.headerHeight + 1
        let index = list.top + (y - first)
        let rows = self.rows
        guard y >= first, index >= 0, index < rows.count else { return [] }
        var list = self.list
        list.selectedIndex = index
        list.selectedKey = rows[index].key
        self.list = list
        return []
    }
}
