import Foundation

/// Line formats of a JSONL dataset (the conventions of mlx-lm and TRL), detected per file from its
/// first valid line.
public enum DatasetFormat: String, Codable, Sendable, CaseIterable {
    /// `{"text": "..."}`: plain text, loss on every token.
    case text
    /// `{"messages": [{"role": "...", "content": "..."}, ...]}`, or ShareGPT's
    /// `{"conversations": [{"from": "human"|"gpt"|"system", "value": "..."}, ...]}`: rendered with the chat template.
    case chat
    /// `{"prompt": "...", "completion": "..."}`: the completion follows the prompt.
    case promptCompletion = "prompt-completion"
}

/// One parsed dataset line.
public enum DatasetRecord: Sendable, Equatable {
    case text(String)
    case chat([ChatMessage])
    case promptCompletion(prompt: String, completion: String)

    /// The format of this record.
    public var format: DatasetFormat {
        switch self {
        case .text: return .text
        case .chat: return .chat
        case .promptCompletion: return .promptCompletion
        }
    }

    /// The format a JSON object's keys announce, if any.
    static func detect(_ obj: [String: Any]) -> DatasetFormat? {
        if obj["messages"] != nil || obj["conversations"] != nil { return .chat }
        if obj["prompt"] != nil || obj["completion"] != nil { return .promptCompletion }
        if obj["text"] != nil { return .text }
        return nil
    }

    /// Parses one line (without its newline). `format` is the file's format once known.
    static func parse(_ line: ArraySlice<UInt8>, format: DatasetFormat?) -> Result<DatasetRecord, LineProblem> {
        let text = String(decoding: line, as: UTF8.self)
        guard text.utf8.elementsEqual(line) else { return .failure(.invalidUTF8) }
        let any: Any
        do { any = try JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed]) } catch {
            return .failure(.invalidJSON(Self.shortMessage(error)))
        }
        guard let obj = any as? [String: Any] else { return .failure(.notAnObject) }
        guard let f = format ?? detect(obj) else { return .failure(.unknownFormat(keys: Array(obj.keys))) }
        func string(_ key: String, allowEmpty: Bool = false) -> Result<String, LineProblem> {
            guard let v = obj[key], !(v is NSNull) else { return .failure(.missingField(key)) }
            guard let s = v as? String else { return .failure(.wrongType(field: key, expected: "a string")) }
            if !allowEmpty && s.isEmpty { return .failure(.emptyText(field: key)) }
            return .success(s)
        }
        switch f {
        case .text:
            return string("text").map { .text($0) }
        case .promptCompletion:
            switch (string("prompt", allowEmpty: true), string("completion")) {
            case (.failure(let e), _), (_, .failure(let e)): return .failure(e)
            case (.success(let p), .success(let c)): return .success(.promptCompletion(prompt: p, completion: c))
            }
        case .chat:
            return parseChat(obj)
        }
    }

    /// Roles a chat line may use (ShareGPT's `from` values are mapped onto them).
    public static let chatRoles = ["system", "user", "assistant"]
    /// ShareGPT `from` values and the roles they stand for.
    static let shareGPTRoles = ["human": "user", "gpt": "assistant", "system": "system", "user": "user", "assistant": "assistant"]

    /// A `messages` line, or a ShareGPT `conversations` line (`from`/`value`; human → user, gpt → assistant).
    static func parseChat(_ obj: [String: Any]) -> Result<DatasetRecord, LineProblem> {
        let shareGPT = obj["messages"] == nil && obj["conversations"] != nil
        let (listKey, roleKey, contentKey) = shareGPT ? ("conversations", "from", "value") : ("messages", "role", "content")
        guard let v = obj[listKey], !(v is NSNull) else { return .failure(.missingField("messages")) }
        guard let list = v as? [Any] else { return .failure(.wrongType(field: listKey, expected: "an array")) }
        if list.isEmpty { return .failure(.emptyText(field: listKey)) }
        var msgs = [ChatMessage]()
        msgs.reserveCapacity(list.count)
        for (i, m) in list.enumerated() {
            let field = "\(listKey)[\(i)]"
            guard let m = m as? [String: Any] else { return .failure(.wrongType(field: field, expected: "an object")) }
            guard let r = m[roleKey], !(r is NSNull) else { return .failure(.missingField(field + "." + roleKey)) }
            guard let given = r as? String else { return .failure(.wrongType(field: field + "." + roleKey, expected: "a string")) }
            if given.isEmpty { return .failure(.emptyText(field: field + "." + roleKey)) }
            let role = shareGPT ? shareGPTRoles[given] : (chatRoles.contains(given) ? given : nil)
            guard let role else {
                return .failure(.unknownRole(field: field + "." + roleKey, role: given, shareGPT: shareGPT))
            }
            guard let c = m[contentKey], !(c is NSNull) else { return .failure(.missingField(field + "." + contentKey)) }
            guard let content = c as? String else {
                return .failure(.wrongType(field: field + "." + contentKey, expected: "a string"))
            }
            msgs.append(ChatMessage(role: role, content: content))
        }
        if msgs.allSatisfy({ $0.content.isEmpty }) { return .failure(.emptyText(field: listKey)) }
        if !msgs.contains(where: { $0.role == "assistant" }) { return .failure(.noAssistantTurn(count: msgs.count)) }
        return .success(.chat(msgs))
    }

    private static func shortMessage(_ error: Error) -> String {
        let ns = error as NSError
        let m = (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
        return m.count > 120 ? String(m.prefix(120)) + "…" : m
    }
}
