import Dashboard
import DeliveryCore
import Foundation
import Testing

/// Every view and overlay at 80x24 and 120x40, loaded from a real SQLite log (`FixtureDatabase`) through the store's
/// queries, compared with committed text (`__Snapshots__/db-*.txt`).
@Suite struct DatabaseSnapshotTests {
    static let sizes = [(80, 24), (120, 40)]

    /// A state over the fixture database's store, loaded, on `view`, at the fixture's clock.
    static func state(_ store: Store, view: ViewKind = .endpoints, width: Int, height: Int) async -> DashboardState {
        var state = DashboardState(options: Fixture.options(), now: FixtureDatabase.now, width: width, height: height)
        // Endpoints first, so their statuses are known in every view (as when the dashboard opens).
        await DashboardRenderer.load(&state, from: SQLiteEngine(store: store))
        if view != .endpoints {
            _ = state.update(.command(.switchView(view)))
            await DashboardRenderer.load(&state, from: SQLiteEngine(store: store))
        }
        return state
    }

    /// The screen text, checked to carry no control character but newlines.
    static func text(_ state: DashboardState, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        let text = DashboardRenderer.render(state).text()
        let controls = text.unicodeScalars.filter { scalar in
            scalar != "\n" && (scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value))
        }
        #expect(
            controls.isEmpty, "control characters on screen: \(controls.map(\.value))", sourceLocation: sourceLocation)
        return text
    }

    @Test(arguments: ViewKind.allCases)
    func views(view: ViewKind) async throws {
        let fixture = try await FixtureDatabase.make()
        for (w, h) in Self.sizes {
            let state = await Self.state(fixture.store, view: view, width: w, height: h)
            let name =
                "db-view\(view.rawValue)-\(view.title.lowercased().replacingOccurrences(of: " ", with: "-"))-\(w)x\(h)"
            assertSnapshot(Self.text(state), named: name)
        }
    }

    /// The hostile delivery's detail: its top, and scrolled to the end where the escape-laden response body is.
    @Test func detailOverlay() async throws {
        let fixture = try await FixtureDatabase.make()
        for (w, h) in Self.sizes {
            var state = await Self.state(fixture.store, view: .deliveries, width: w, height: h)
            while state.selectedRow?.delivery?.id != FixtureDatabase.hostileDeliveryId {
                let before = state.selectedRow?.key
                state.press(.char("j"))
                try #require(state.selectedRow?.key != before, "hostile delivery not listed")
            }
            state.press(.enter)
            await DashboardRenderer.load(&state, from: SQLiteEngine(store: fixture.store))
            try #require(state.detail != nil)
            assertSnapshot(Self.text(state), named: "db-detail-\(w)x\(h)")

            state.press(.char("G"))
            let end = Self.text(state)
            #expect(end.contains("不正なゲートウェイ"))
            assertSnapshot(end, named: "db-detail-response-\(w)x\(h)")
        }
    }

    @Test func helpOverlay() async throws {
        let fixture = try await FixtureDatabase.make()
        for (w, h) in Self.sizes {
            var state = await Self.state(fixture.store, width: w, height: h)
            state.press(.char("?"))
            assertSnapshot(Self.text(state), named: "db-help-\(w)x\(h)")
        }
    }

    /// The fixture holds what the snapshots are meant to show: every delivery and endpoint status, and the same
    /// content on every build.
    @Test func fixtureContent() async throws {
        let fixture = try await FixtureDatabase.make()
        let store = fixture.store
        let deliveries = try store.deliveries(DeliveryQuery(limit: 1000))
        #expect(deliveries.map(\.id) == Array((1...20).reversed()))
        #expect(Set(deliveries.map(\.status)) == Set(DeliveryStatus.allCases))
        let endpoints = try store.endpoints()
        #expect(endpoints.map(\.id) == ["ep_billing", "ep_crm", "ep_down", "ep_gone", "ep_legacy", "ep_tokyo"])
        #expect(Set(endpoints.map(\.status)) == [.active, .paused, .disabled])
        #expect(endpoints.first { $0.id == "ep_gone" }?.disabledReason == "endpoint answered 410 Gone")
        let hostile = try #require(try store.deliveryDetail(id: FixtureDatabase.hostileDeliveryId))
        #expect(hostile.delivery.status == .dead)
        #expect(hostile.attempts.count == 8)
        #expect(hostile.attempts.allSatisfy { $0.responseBodyExcerpt == FixtureDatabase.hostileBody })

        // A second build is the same log, down to the retry times.
        let again = try await FixtureDatabase.make()
        #expect(try again.store.deliveries(DeliveryQuery(limit: 1000)) == deliveries)
        let now = FixtureDatabase.now
        #expect(try again.store.endpointSummaries(now: now) == store.endpointSummaries(now: now))
        #expect(try again.store.overview(now: now) == store.overview(now: now))
        #expect(
            try again.store.deliveryDetail(id: FixtureDatabase.hostileDeliveryId)
                == store.deliveryDetail(id: FixtureDatabase.hostileDeliveryId))
    }
}
