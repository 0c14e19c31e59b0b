import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Refusing to write over an input: an output path that is the same file as an input (also through a
/// hard link or a symbolic link), or an output folder that is an input's folder or holds an input.
public enum OutputPath {
    /// Throws `OutputPathError.wouldOverwrite` when writing `output` could replace or change one of
    /// `inputs` (files or folders). Checked before anything is written.
    public static func checkDistinct(output: String, inputs: [String]) throws {
        let outID = identity(output)
        let outReal = realPath(output)
        for input in inputs where !input.isEmpty {
            let inID = identity(input)
            if let o = outID, let i = inID, o == i { throw OutputPathError.wouldOverwrite(output: output, input: input) }
            // A folder output containing the input (or the input's own folder).
            if let o = outReal, let i = realPath(input) {
                let inDir = isDirectory(input) ? i : (i as NSString).deletingLastPathComponent
                if o == inDir || i.hasPrefix(o + "/") && isDirectory(output) {
                    throw OutputPathError.wouldOverwrite(output: output, input: input)
                }
            }
        }
    }

    static func identity(_ p: String) -> [UInt64]? {
        var st = stat()
        guard stat(p, &st) == 0 else { return nil }
        return [UInt64(st.st_dev), UInt64(st.st_ino)]
    }

    static func realPath(_ p: String) -> String? {
        guard let r = realpath(p, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }

    static func isDirectory(_ p: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: p, isDirectory: &d) && d.boolValue
    }
}

public enum OutputPathError: Error, CustomStringConvertible, Equatable {
    case wouldOverwrite(output: String, input: String)

    public var description: String {
        guard case .wouldOverwrite(let o, let i) = self else { return "" }
        return "refusing to write \(o): it is (or holds) the input \(i), which would be overwritten; choose another output path"
    }
}
