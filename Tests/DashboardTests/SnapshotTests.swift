import Dashboard
import DeliveryCore
import Foundation
import Testing

/// Every view and overlay, drawn from the fixture at 80x24 and 120x40, compared with committed text.
@Suite struct SnapshotTests {
    static let sizes = [(80, 24), (120, 40)]

    @Test(arguments: ViewKind.allCases)
    func views(view: ViewKind) async {
        for (w, h) in Self.sizes {
            let state = await Fixture.state(view: view, width: w, height: h)
            let name =
                "view\(view.rawValue)-\(view.title.lowercased().replacingOccurrences(of: " ", with: "-"))-\(w)x\(h)"
            assertSnapshot(DashboardRenderer.render(state).text(), named: name)
        }
    }

    @Test func expandedFailureGroup() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .failures, width: 100, height: 24)
        state.press(.enter)
        await state.reload(from: log)
        assertSnapshot(DashboardRenderer.render(state).text(), named: "failures-expanded-100x24")
    }

    @Test func detailOverlay() async {
        for (w, h) in Self.sizes {
            let log = FixtureLog()
            var state = await Fixture.state(log, view: .deliveries, width: w, height: h)
            // The hostile delivery: an escape-laden 502 body with CJK text.
            while state.selectedRow?.delivery?.id != 1008 { state.press(.char("j")) }
            state.press(.enter)
            await state.reload(from: log)
            assertSnapshot(DashboardRenderer.render(state).text(), named: "detail-\(w)x\(h)")
        }
    }

    /// The header counts the last hour's alerts about problems and names the newest; `!` lists every alert with
    /// whether it was sent.
    @Test func alertsInTheHeaderAndTheirOverlay() async {
        let log = FixtureLog()
        let now = FixtureLog.now
        func alert(_ n: Int64, _ type: AlertType, _ ago: TimeInterval, _ status: AlertSendStatus, _ summary: String)
            -> Alert
        {
            Alert(
                sequence: n, id: "alrt_\(n)", type: type, objectId: "ep_1", at: now.addingTimeInterval(-ago),
                summary: summary, details: "{}", status: status, attempts: status == .pending ? 2 : 1)
        }
        log.alertList = [
            alert(5, .endpointRecovered, 30, .sent, "endpoint ep_1 (Acme) recovered: delivered again after endpoint.failing"),
            alert(4, .endpointDisabled, 120, .pending, "endpoint ep_2 (Globex) disabled: endpoint answered 410 Gone (last answer HTTP 410)"),
            alert(3, .endpointFailing, 600, .sent, "endpoint ep_1 (Acme) failing for 10m without a success: http 503"),
            alert(2, .dispatcherStale, 2 * 3600, .failed, "dispatcher box2 pid 77 stopped heartbeating 30s ago"),
            alert(1, .test, 3 * 3600, .sent, "test alert from ops via cli"),
        ]
        for (w, h) in [(80, 24), (120, 40)] {
            var state = await Fixture.state(log, view: .endpoints, width: w, height: h)
            let screen = DashboardRenderer.render(state).text()
            #expect(screen.contains(" 2 alerts "), "\(screen)")
            #expect(w < 100 || screen.contains(" 2 alerts   endpoint.disabled 2m00s ago"), "\(screen)")
            state.press(.char("!"))
            await state.reload(from: log)
            assertSnapshot(DashboardRenderer.render(state).text(), named: "alerts-\(w)x\(h)")
            state.press(.escape)
            #expect(state.modal == nil)
        }
    }

    /// Several dispatchers: the header counts the alive and the stale ones and adds up what the alive ones have in
    /// flight; `D` lists each: alive or stale since when, where it runs, in flight, attempts over 5 minutes.
    @Test func severalDispatchersInTheHeaderAndTheirOverlay() async {
        let log = FixtureLog()
        let t = FixtureLog.now
        func worker(_ id: String, _ pid: Int, _ host: String, up: TimeInterval, silent: TimeInterval, inFlight: Int)
            -> WorkerInfo
        {
            WorkerInfo(
                id: id, pid: pid, host: host, startedAt: t.addingTimeInterval(-up),
                heartbeatAt: t.addingTimeInterval(-silent), version: "0.1.0", inFlight: inFlight)
        }
        log.setDispatchers(
            [
                worker("w:7f3k2m9qpx1a", 4242, "box1", up: 7200, silent: 1, inFlight: 3),
                worker("w:b81nq0zt5e4c", 977, "worker-2.eu-west.example", up: 3000, silent: 2, inFlight: 5),
                worker("w:c2vd8s1l0hgu", 77, "box3", up: 86_400, silent: 95, inFlight: 2),
            ], attempts: ["w:7f3k2m9qpx1a": 700, "w:b81nq0zt5e4c": 12_480, "w:c2vd8s1l0hgu": 9])
        for (w, h) in Self.sizes {
            var state = await Fixture.state(log, view: .endpoints, width: w, height: h)
            let screen = DashboardRenderer.render(state).text()
            let header = screen.split(separator: "\n")[0]
            #expect(header.contains("dispatchers ● 2 alive ✗ 1 STALE"), "\(header)")
            #expect(w < 100 || header.contains("8 in flight"), "\(header)")
            assertSnapshot(screen, named: "dispatchers-\(w)x\(h)")
            state.press(.char("D"))
            #expect(state.modal == .dispatchers(scroll: 0))
            assertSnapshot(DashboardRenderer.render(state).text(), named: "dispatchers-overlay-\(w)x\(h)")
            state.press(.char("D"))
            #expect(state.modal == nil)
        }
    }

    /// The detail names an endpoint's own headers and credential, the credential masked.
    @Test func detailShowsConnectionSettingsWithTheCredentialMasked() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .deliveries, width: 120, height: 40)
        while state.selectedRow?.delivery?.id != 1008 { state.press(.char("j")) }
        let endpointId = state.selectedRow?.delivery?.endpointId ?? ""
        log.setConnection(
            endpointId,
            ConnectionSettings(
                headers: [Header(name: "X-Team", value: "payments")], credential: .bearer(token: "tok_SECRETabcdefgh3f"),
                caPEM: "pem", retrySchedule: RetryPolicy(delays: [10, 60])))
        state.press(.enter)
        await state.reload(from: log)
        let screen = DashboardRenderer.render(state).text()
        #expect(screen.contains("sends     headers X-Team; Bearer …3f; own CA; retries 10s,1m"), "\(screen)")
        #expect(!screen.contains("SECRET"))
    }

    /// A rate-limited endpoint with a queue shows its drain: how many, at what pace, and when it ends.
    @Test func aRateLimitedQueueShowsItsDrain() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .endpoints, width: 140, height: 30)
        let queued = state.endpoints.first { $0.endpoint.status == .active && $0.counts.queued > 0 }
        guard let queued else {
            Issue.record("the fixture has no active endpoint with a queue")
            return
        }
        log.setRateLimit(queued.endpoint.id, 2)
        await state.reload(from: log)
        let count = queued.counts.queued
        let eta = Formatting.duration(Double(count) / (2 / RateLimiter.window))
        let screen = DashboardRenderer.render(state).text()
        #expect(screen.contains("drain \(count) @2/s ETA \(eta)"), "\(screen)")
    }

    /// Due work nobody takes shows in the header once it is 30 s late (the default), whatever else is shown.
    @Test func overdueWorkShowsInTheHeader() async {
        let log = FixtureLog()
        log.oldestDueAt = FixtureLog.now.addingTimeInterval(-20)
        var state = await Fixture.state(log, view: .endpoints, width: 80, height: 24)
        #expect(!DashboardRenderer.render(state).text().contains("overdue"))
        log.oldestDueAt = FixtureLog.now.addingTimeInterval(-95)
        await state.reload(from: log)
        let header = DashboardRenderer.render(state).text().split(separator: "\n")[1]
        #expect(header.contains(" overdue 1m35s "), "\(header)")
    }

    @Test func detailWithJSONResponse() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .deliveries, width: 100, height: 40)
        while state.selectedRow?.delivery?.id != 1009 { state.press(.char("j")) }
        state.press(.enter)
        await state.reload(from: log)
        assertSnapshot(DashboardRenderer.render(state).text(), named: "detail-json-100x40")
    }

    @Test func helpOverlay() async {
        for (w, h) in Self.sizes {
            var state = await Fixture.state(width: w, height: h)
            state.press(.char("?"))
            assertSnapshot(DashboardRenderer.render(state).text(), named: "help-\(w)x\(h)")
        }
    }

    @Test func recoverConfirmation() async {
        var state = await Fixture.state(width: 80, height: 24)
        while state.selectedRow?.endpointId != "ep_down" { state.press(.down) }
        state.press(.char("R"), .enter)
        _ = state.update(
            .recoverableCounted(endpointId: "ep_down", since: FixtureLog.now.addingTimeInterval(-3600), .success(312)))
        assertSnapshot(DashboardRenderer.render(state).text(), named: "confirm-recover-80x24")
    }

    @Test func readOnlyAndStaleDispatcher() async {
        let state = await Fixture.state(FixtureLog(dispatcherAlive: false), width: 80, height: 24, readOnly: true)
        assertSnapshot(DashboardRenderer.render(state).text(), named: "readonly-stale-80x24")
    }

    /// A full disk is the first thing the header says, at every width.
    @Test func aLogThatTakesNoWritesIsSaidInTheHeader() async {
        let log = FixtureLog()
        log.writeProblem = "disk full"
        for (w, h) in [(60, 16), (80, 24), (120, 40)] {
            let state = await Fixture.state(log, width: w, height: h)
            let header = DashboardRenderer.render(state).text().split(separator: "\n").prefix(2).joined(separator: "\n")
            #expect(header.contains("log not writable: disk full"), "\(w)x\(h):\n\(header)")
        }
    }

    @Test func asciiGlyphs() async {
        var state = await Fixture.state(view: .deliveries, width: 80, height: 24)
        state.glyphs = .ascii
        let text = DashboardRenderer.render(state).text()
        for glyph in ["…", "●", "✓", "✗", "▌", "↻", "→"] { #expect(!text.contains(glyph)) }
        assertSnapshot(text, named: "ascii-deliveries-80x24")
    }

    /// Without UTF-8, help, footers, dialogs, the detail and messages spell every symbol in ASCII.
    @Test func asciiCoversHelpDialogsAndTheDetail() async {
        let symbols = Set("↑↓→←·…▸▾●○✓✗×↻─│▌—–▁▂▃▄▅▆▇█")
        var screens: [String: String] = [:]
        for view in ViewKind.allCases {
            var state = await Fixture.state(view: view, width: 100, height: 40)
            state.glyphs = .ascii
            screens["\(view)"] = DashboardRenderer.render(state).text()
            state.press(.char("?"))
            screens["help \(view)"] = DashboardRenderer.render(state).text()
            state.press(.escape, .enter)
            screens["open \(view)"] = DashboardRenderer.render(state).text()
            state.press(.escape, .char("/"))
            screens["filter \(view)"] = DashboardRenderer.render(state).text()
            state.press(.escape, .char("x"))
            screens["cancel \(view)"] = DashboardRenderer.render(state).text()
        }
        for (name, text) in screens {
            #expect(!text.contains { symbols.contains($0) }, "\(name):\n\(text)")
        }
        #expect(screens["help deliveries"]?.contains("j k Up Down") == true)
    }
}
