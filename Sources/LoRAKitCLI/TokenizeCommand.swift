import ArgumentParser
import Foundation
import LoRAKit

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Tokenize text read from stdin with a model's tokenizer and print the token ids.",
        discussion: """
            The text is used exactly as read (a trailing newline is part of it). Special tokens written \
            in the text, such as <|im_start|>, become their ids unless --no-special is given.
            """)

    @Option(help: "A .gguf file, a tokenizer.json, or a Hugging Face folder with tokenizer.json.") var model: String
    @Flag(help: "Print JSON: the ids and, per token, its vocabulary piece and the text it stands for.") var json = false
    @Flag(inversion: .prefixedNo, help: "Prepend the BOS token (default: as the model says).") var bos: Bool? = nil
    @Flag(help: "Treat special-token text such as <|im_end|> as ordinary text.") var noSpecial = false

    func run() throws {
        let tok: Tokenizer
        do { tok = try Tokenizer(modelPath: model) } catch let e as TokenizerError {
            throw ValidationError(e.description)
        }
        let input = FileHandle.standardInput.readDataToEndOfFile()
        guard let text = String(data: input, encoding: .utf8) else {
            throw ValidationError("stdin is not valid UTF-8")
        }
        let ids = tok.encode(text, addBOS: bos, parseSpecial: !noSpecial)
        if json {
            struct Token: Encodable { let id: Int32; let piece: String; let text: String }
            struct Output: Encodable { let count: Int; let ids: [Int32]; let tokens: [Token]; let bosAdded: Bool }
            let tokens = ids.map { Token(id: $0, piece: tok.tokenPiece($0) ?? "", text: tok.decode([$0])) }
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try enc.encode(Output(count: ids.count, ids: ids, tokens: tokens,
                                                                       bosAdded: (bos ?? tok.vocabulary.addBOS) && tok.vocabulary.bosID != nil)), as: UTF8.self))
        } else {
            print(ids.map(String.init).joined(separator: " "))
        }
    }
}
