import DeliveryCore
import Foundation

extension DashboardState {
    /// The selected row of the current view, if any (none while the selected row has left the list).
    public var selectedRow: ListRow? {
        let rows = self.rows
        guard !rows.isEmpty, !list.lost else { return nil }
        let index = min(max(0, list.selectedIndex), rows.count - 1)
        return rows[index]
    }

    /// Whether the Deliveries view is following its newest row now.
    public var isFollowingLiveLog: Bool { isLiveLog && list.following }

    /// Whether the Deliveries view stopped following (its rows stay where they are, `+N new` counts arrivals).
    public var isPausedLiveLog: Bool { isLiveLog && !list.following }

    /// Whether this view is a live log that follows its newest row (the Deliveries view, newest first).
    var isLiveLog: Bool { view == .deliveries && (sort ?? .newest) == .newest }

    /// Follows the newest row again: back to the live head, newest selected.
    mutating func follow() {
        var list = self.list
        if !list.pages.isEmpty || list.anchor != nil { loaded = false }
        list.following = true
        list.anchor = nil
        list.pages = []
        list.lost = false
        list.selectedIndex = 0
        list.top = 0
        list.selectedKey = loaded ? rows.first?.key : nil
        self.list = list
        newRows = 0
    }

    /// Stops following: the page stays where it is, anchored at its newest row.
    mutating func stopFollowing() {
        guard isLiveLog, list.following else { return }
        var list = self.list
        list.following = false
        if list.pages.isEmpty { list.anchor = deliveries.first?.id }
        self.list = list
    }

    /// Moves the selection; past the end of the loaded page it asks for the next page (keyset cursor), past the top
    /// of a later page for the previous one.
    mutating func move(by delta: Int) {
        let rows = self.rows
        guard !rows.isEmpty else { return }
        if isLiveLog {
            // Up from the newest row of an anchored page: follow again (the newer rows are above it).
            if delta < 0, list.selectedIndex == 0, !list.following, list.pages.isEmpty, !list.lost {
                follow()
                say("following the newest deliveries")
                return
            }
            stopFollowing()
        }
        var list = self.list
        let current = min(max(0, list.selectedIndex), rows.count - 1)
        list.lost = false
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
        if isLiveLog {
            follow()
            return
        }
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
    private func nextPageCursor(_ rows: [ListRow]) -> PageCursor? {
        let size = options.pageSize
        switch view {
        case .deliveries:
            guard deliveries.count >= size, deliveries.count >= 2 else { return nil }
            switch sort ?? .newest {
            case .newest: return .deliveriesBefore(deliveries[deliveries.count / 2].id + 1)
            case .oldest: return .deliveriesAfter(deliveries[deliveries.count / 2].id - 1)
            default: return nil  // the slowest and most-attempted are one ranked page
            }
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

    /// After rows change: a following live log selects its newest row; otherwise the selected key is found again
    /// (same row, new index, same place on screen). A row that left the list is reported, never replaced.
    mutating func syncSelection() {
        let rows = self.rows
        var list = self.list
        guard !rows.isEmpty else {
            list.selectedIndex = 0
            list.top = 0
            self.list = list
            return
        }
        if isLiveLog && list.following && list.pages.isEmpty {
            list.selectedIndex = 0
            list.top = 0
            list.selectedKey = rows[0].key
            list.lost = false
            self.list = list
            return
        }
        let oldIndex = list.selectedIndex
        if let key = list.selectedKey, let index = rows.firstIndex(where: { $0.key == key }) {
            list.selectedIndex = index
            list.lost = false
            // Rows arriving above shift the list so the selected row stays where it was on screen (a list at the
            // very top that is not a live log shows the new rows, its selection moving down with its row).
            if list.top > 0 || isLiveLog { list.top = max(0, list.top + index - oldIndex) }
        } else if let key = list.selectedKey, !list.lost, loaded {
            list.lost = true
            list.selectedIndex = min(max(0, list.selectedIndex), rows.count - 1)
            self.list = list
            say("\(Self.describeKey(key)) left this list (j/k selects another)", .info, for: 8)
            return
        } else if !list.lost {
            list.selectedIndex = min(max(0, list.selectedIndex), rows.count - 1)
            // Rows of a request that is no longer current (a sort or filter just changed) name no selection: the
            // first row of the new page will.
            list.selectedKey = loaded ? rows[list.selectedIndex].key : nil
        }
        self.list = list
        keepSelectionVisible(rowCount: rows.count)
    }

    /// `#42` for a delivery row's key, the key itself otherwise.
    static func describeKey(_ key: String) -> String {
        if let id = key.split(separator: ":").last.flatMap({ Int64($0) }) { return "#\(id)" }
        return key.split(separator: ":").last.map(String.init) ?? key
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
        if isLiveLog { stopFollowing() }
        var list = self.list
        list.selectedIndex = index
        list.selectedKey = rows[index].key
        list.lost = false
        self.list = list
        return []
    }
}
