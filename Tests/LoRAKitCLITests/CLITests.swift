import Foundation
import XCTest

/// Runs the built `lorakit` binary as a user would.
final class CLITests: XCTestCase {
    func testVersionAndHelp() throws {
        let v = try runLorakit(["--version"])
        XCTAssertEqual(v.status, 0)
        XCTAssertTrue(v.stdout.contains("0."), v.stdout)
        let h = try runLorakit(["--help"])
        XCTAssertEqual(h.status, 0)
        XCTAssertTrue(h.stdout.contains("SUBCOMMANDS"), h.stdout)
        XCTAssertTrue(h.stdout.contains("cpu"), h.stdout)
    }

    func testUnknownSubcommandFails() throws {
        let r = try runLorakit(["no-such-command"])
        XCTAssertNotEqual(r.status, 0)
    }
}
