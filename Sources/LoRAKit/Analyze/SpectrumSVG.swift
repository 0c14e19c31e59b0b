import Foundation

/// Renders an adapter analysis as a standalone SVG: left, the normalized singular value spectra
/// σ_i/σ_1 (log scale, one line per matrix, colored by module kind); right, the update norm of
/// every module kind per layer (‖ΔW‖/‖W0‖ when the base model was given, else ‖ΔW‖_F).
public enum SpectrumSVG {
    /// Line color of a module kind.
    public static func color(_ module: String) -> String {
        switch module {
        case "q_proj": return "#1f77b4"
        case "k_proj": return "#ff7f0e"
        case "v_proj": return "#2ca02c"
        case "o_proj": return "#d62728"
        case "gate_proj": return "#9467bd"
        case "up_proj": return "#8c564b"
        case "down_proj": return "#e377c2"
        default: return "#555555"
        }
    }

    /// Integer axis ticks from lo to hi at a 1/2/5 step giving at most ~8 labels.
    static func niceTicks(lo: Int, hi: Int) -> [Int] {
        let span = max(1, hi - lo)
        let step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000].first { span / $0 <= 8 } ?? max(1, span / 8)
        var t = Array(stride(from: lo, through: hi, by: step))
        if let last = t.last, last != hi {
            if Double(hi - last) < 0.5 * Double(step) { t.removeLast() }
            t.append(hi)
        }
        return t
    }

    /// A round axis maximum ≥ v and its 1/2/5 tick step (about 4–6 ticks).
    static func niceMax(_ v: Double) -> (max: Double, step: Double) {
        let raw = v / 5
        let p = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * p }.first { $0 >= raw } ?? 10 * p
        return ((v / step).rounded(.up) * step, step)
    }

    /// SVG text for an analysis.
    public static func render(_ a: AdapterAnalysis, title: String? = nil) -> String {
        let W = 1000.0, H = 460.0, top = 76.0, bottom = 50.0, gap = 80.0, left = 64.0, right = 24.0
        let pw = (W - left - right - gap) / 2, ph = H - top - bottom
        let x0L = left, x0R = left + pw + gap
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(W))" height="\(Int(H))" viewBox="0 0 \(Int(W)) \(Int(H))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int(W / 2))" y="22" text-anchor="middle" font-size="15">\(LossCurveSVG.escape(title ?? "LoRA update spectra: \(a.matrices.count) matrices, r=\(a.rank)"))</text>

        """
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        func frame(_ x0: Double) { s += "<rect x=\"\(f(x0))\" y=\"\(f(top))\" width=\"\(f(pw))\" height=\"\(f(ph))\" fill=\"none\" stroke=\"#888\"/>\n" }

        // Left panel: σ_i/σ_1 on a log axis from 1 down to `floorExp` decades.
        let r = max(a.rank, 1)
        let smallest = a.matrices.compactMap { m -> Double? in
            guard let s1 = m.singularValues.first, s1 > 0 else { return nil }
            return m.singularValues.filter { $0 > 0 }.map { $0 / s1 }.min()
        }.min() ?? 0.1
        let decades = min(6.0, max(1.0, (-log10(max(smallest, 1e-6))).rounded(.up)))
        func xL(_ i: Int) -> Double { x0L + (r == 1 ? pw / 2 : pw * Double(i - 1) / Double(r - 1)) }
        func yL(_ ratio: Double) -> Double { top + ph * min(1, -log10(max(ratio, pow(10, -decades))) / decades) }
        for d in 0...Int(decades) {
            let yy = yL(pow(10, -Double(d)))
            s += "<line x1=\"\(f(x0L))\" y1=\"\(f(yy))\" x2=\"\(f(x0L + pw))\" y2=\"\(f(yy))\" stroke=\"#e5e5e5\"/>\n"
            let label = d == 0 ? "1" : d <= 3 ? "0." + String(repeating: "0", count: d - 1) + "1" : "1e-\(d)"
            s += "<text x=\"\(f(x0L - 6))\" y=\"\(f(yy + 4))\" text-anchor=\"end\">\(label)</text>\n"
        }
        let ticks = niceTicks(lo: 1, hi: r)
        for t in ticks { s += "<text x=\"\(f(xL(t)))\" y=\"\(f(top + ph + 18))\" text-anchor=\"middle\">\(t)</text>\n" }
        s += "<text x=\"\(f(x0L + pw / 2))\" y=\"\(f(H - 12))\" text-anchor=\"middle\">singular value index i</text>\n"
        s += "<text x=\"\(f(x0L + pw / 2))\" y=\"\(f(top - 8))\" text-anchor=\"middle\">normalized spectrum σ_i / σ_1 of each ΔW</text>\n"
        frame(x0L)
        for m in a.matrices {
            guard let s1 = m.singularValues.first, s1 > 0 else { continue }
            let pts = m.singularValues.enumerated().map { i, v in "\(i == 0 ? "M" : "L")\(f(xL(i + 1))),\(f(yL(v / s1)))" }
            s += "<path d=\"\(pts.joined(separator: " "))\" fill=\"none\" stroke=\"\(color(m.module))\" stroke-opacity=\"0.45\" stroke-width=\"1\"/>\n"
        }

        // Mean normalized spectrum of each module kind, drawn thick over the thin lines.
        for mod in a.modules.map(\.module) {
            let ms = a.matrices.filter { $0.module == mod && ($0.singularValues.first ?? 0) > 0 }
            guard !ms.isEmpty else { continue }
            let mean = (0..<r).map { i in ms.reduce(0.0) { $0 + (i < $1.singularValues.count ? $1.singularValues[i] / $1.singularValues[0] : 0) } / Double(ms.count) }
            let pts = mean.enumerated().map { i, v in "\(i == 0 ? "M" : "L")\(f(xL(i + 1))),\(f(yL(v)))" }
            s += "<path d=\"\(pts.joined(separator: " "))\" fill=\"none\" stroke=\"\(color(mod))\" stroke-width=\"3\"/>\n"
        }

        // Right panel: per-layer update norms, one line per module kind.
        let rel = a.matrices.allSatisfy { $0.relativeUpdate != nil }
        let value: (MatrixSpectrum) -> Double = rel ? { $0.relativeUpdate ?? 0 } : { $0.frobeniusNorm }
        let layers = a.layers.map(\.layer)
        let lo = layers.first ?? 0, hi = max(layers.last ?? 1, lo + 1)
        let (vmax, vstep) = niceMax(max(a.matrices.map(value).max() ?? 1, 1e-30))
        func xR(_ l: Int) -> Double { x0R + pw * Double(l - lo) / Double(hi - lo) }
        func yR(_ v: Double) -> Double { top + ph * (1 - v / vmax) }
        for i in 0...Int((vmax / vstep).rounded()) {
            let v = vstep * Double(i), yy = yR(v)
            s += "<line x1=\"\(f(x0R))\" y1=\"\(f(yy))\" x2=\"\(f(x0R + pw))\" y2=\"\(f(yy))\" stroke=\"#e5e5e5\"/>\n"
            s += "<text x=\"\(f(x0R - 6))\" y=\"\(f(yy + 4))\" text-anchor=\"end\">\(String(format: "%.3g", v))</text>\n"
        }
        let lt = niceTicks(lo: lo, hi: hi)
        for l in lt { s += "<text x=\"\(f(xR(l)))\" y=\"\(f(top + ph + 18))\" text-anchor=\"middle\">\(l)</text>\n" }
        s += "<text x=\"\(f(x0R + pw / 2))\" y=\"\(f(H - 12))\" text-anchor=\"middle\">layer</text>\n"
        s += "<text x=\"\(f(x0R + pw / 2))\" y=\"\(f(top - 8))\" text-anchor=\"middle\">\(rel ? "relative update ‖ΔW‖_F / ‖W0‖_F" : "update norm ‖ΔW‖_F") per layer</text>\n"
        frame(x0R)
        for mod in a.modules.map(\.module) {
            let ms = a.matrices.filter { $0.module == mod }.sorted { $0.layer < $1.layer }
            let pts = ms.enumerated().map { i, m in "\(i == 0 ? "M" : "L")\(f(xR(m.layer))),\(f(yR(value(m))))" }
            s += "<path d=\"\(pts.joined(separator: " "))\" fill=\"none\" stroke=\"\(color(mod))\" stroke-width=\"1.6\"/>\n"
            for m in ms { s += "<circle cx=\"\(f(xR(m.layer)))\" cy=\"\(f(yR(value(m))))\" r=\"2\" fill=\"\(color(mod))\"/>\n" }
        }

        // Legend across the top.
        var lx = left
        for mod in a.modules.map(\.module) {
            s += "<line x1=\"\(f(lx))\" y1=\"36\" x2=\"\(f(lx + 18))\" y2=\"36\" stroke=\"\(color(mod))\" stroke-width=\"3\"/>"
            s += "<text x=\"\(f(lx + 22))\" y=\"40\">\(mod)</text>\n"
            lx += 30 + Double(mod.count) * 7
        }
        s += "</svg>\n"
        return s
    }
}
