import Foundation

/// Reads only the metadata section of a GGUF file: what a tokenizer needs. Unlike ``GGUFFile`` it
/// does not require the tensor infos and data to be complete, so the tokenizer of a header-only
/// download (the first part of a split model) can be loaded.
enum GGUFMetadataReader {
    static func read(path: String) throws -> [String: GGUFValue] {
        let storage = try MappedFile.map(path: path)
        var r = ByteReader(path: path, base: storage.base, count: storage.count)
        try r.need(8, "magic and version")
        guard [UInt8](UnsafeRawBufferPointer(start: storage.base, count: 4)) == Array("GGUF".utf8) else {
            throw FormatError.badMagic(path: path, found: "not GGUF")
        }
        r.offset = 4
        let v = try r.u32("version")
        guard v == 2 || v == 3 else { throw FormatError.unsupportedVersion(path: path, version: Int(v)) }
        _ = try r.i64("tensor count")
        let at = r.offset
        let n = try r.i64("metadata count")
        guard n >= 0, n <= Int64(min(r.remaining / 13, GGUFFile.maxMetadataKeys)) else {
            throw FormatError.invalidValue(path: path, field: "metadata count", offset: at, message: "\(n) entries cannot fit")
        }
        var md = [String: GGUFValue]()
        md.reserveCapacity(Int(n))
        for i in 0..<Int(n) {
            let key = try r.string("metadata key #\(i)")
            let kind = try GGUFValue.readKind(&r, field: "type of '\(key)'")
            md[key] = try GGUFValue.read(&r, kind: kind, field: "value of '\(key)'")
        }
        try GGUFFile.checkKnownKeyTypes(md, path: path)
        return md
    }
}
