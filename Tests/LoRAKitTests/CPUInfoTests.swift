import LoRAKit
import XCTest

final class CPUInfoTests: XCTestCase {
    func testActiveISAIsSupported() {
        let info = CPUInfo.current
        switch info.activeISA {
        case .avx512: XCTAssertTrue(info.avx512)
        case .avx2: XCTAssertTrue(info.avx2)
        case .neon: XCTAssertTrue(info.neon)
        case .scalar: break
        }
        XCTAssertFalse(LoRAKit.version.isEmpty)
    }
}
