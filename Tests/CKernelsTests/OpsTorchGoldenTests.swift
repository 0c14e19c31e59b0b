import CKernels
import Foundation
import XCTest

/// The dispatched ops against PyTorch / transformers on the same inputs (Tests/Fixtures/ops/torch_ops.json, written by
/// scripts/fixtures/ops_torch.py): rope inv_freq (with Llama 3.1 factors), HF rotate_half RoPE, LlamaRMSNorm, causal
/// GQA SDPA, SiLU-gated MLP, cross-entropy with ignore_index, AdamW.
final class OpsTorchGoldenTests: XCTestCase {
    struct Golden: Decodable {
        struct InvFreq: Decodable { var hd: Int; var base: Float; var factors: [Float]?; var inv_freq: [Float] }
        struct Rope: Decodable { var T, H, hd: Int; var base: Float; var pos: [Int32]; var x, y: [Float] }
        struct RMS: Decodable { var T, C: Int; var eps: Float; var x, w, y, dy, dx: [Float] }
        struct Attn: Decodable { var B, S, Hq, Hkv, hd: Int; var q, k, v, out, dout, dq, dk, dv: [Float] }
        struct SwiGLU: Decodable { var n: Int; var g, u, h, dh, dg, du: [Float] }
        struct Xent: Decodable { var n, V: Int; var scale: Float; var logits: [Float]; var targets: [Int32]; var losses, dlogits: [Float] }
        struct AdamW: Decodable {
            var n: Int; var lr, beta1, beta2, eps, weight_decay: Float; var param0: [Float]; var grads, params: [[Float]]
        }
        var inv_freq: [InvFreq]; var rope: Rope; var rmsnorm: RMS; var attention: Attn; var swiglu: SwiGLU; var xent: Xent
        var adamw: AdamW
    }

    func golden() throws -> Golden {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/ops/torch_ops.json")
        return try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
    }

    func testRopeInvFreqAndRotation() throws {
        let g = try golden()
        for c in g.inv_freq {
            var f = [Float](repeating: 0, count: c.hd / 2)
            lk_rope_inv_freq(&f, Int64(c.hd), c.base, c.factors)
            XCTAssertLessThanOrEqual(opsRelErr(f, c.inv_freq, floor: 0), 2.5e-7, "hd=\(c.hd) factors=\(c.factors != nil)")
            for i in f.indices { XCTAssertEqual(f[i], c.inv_freq[i], accuracy: 2.5e-7 * c.inv_freq[i], "i=\(i)") }
        }
        let r = g.rope, half = r.hd / 2
        var inv = [Float](repeating: 0, count: half)
        lk_rope_inv_freq(&inv, Int64(r.hd), r.base, nil)
        // HF layout -> GGUF layout: gguf[h*hd + 2i + j] = hf[h*hd + j*hd/2 + i].
        func toGGUF(_ a: [Float]) -> [Float] {
            var o = a
            for row in 0..<(r.T * r.H) {
                for i in 0..<half { for j in 0..<2 { o[row * r.hd + 2 * i + j] = a[row * r.hd + j * half + i] } }
            }
            return o
        }
        var x = toGGUF(r.x)
        lk_rope_fwd(nil, &x, r.pos, inv, Int64(r.T), Int64(r.H), Int64(r.hd))
        XCTAssertLessThanOrEqual(opsRelErr(x, toGGUF(r.y)), 2e-6)
    }

    func testRMSNorm() throws {
        let r = try golden().rmsnorm
        var y = [Float](repeating: 0, count: r.T * r.C), rstd = [Float](repeating: 0, count: r.T), dx = y
        lk_rmsnorm_fwd(nil, &y, &rstd, r.x, r.w, Int64(r.T), Int64(r.C), r.eps)
        lk_rmsnorm_bwd(nil, &dx, r.dy, r.x, r.w, rstd, Int64(r.T), Int64(r.C), 0)
        XCTAssertLessThanOrEqual(opsRelErr(y, r.y), 1e-6)
        XCTAssertLessThanOrEqual(opsRelErr(dx, r.dx), 1e-5)
    }

    func testAttention() throws {
        let a = try golden().attention
        let (B, S, Hq, Hkv, hd) = (Int64(a.B), Int64(a.S), Int64(a.Hq), Int64(a.Hkv), Int64(a.hd))
        let scale = 1 / Float(a.hd).squareRoot()
        var scratch = [Float](repeating: 0, count: lk_attention_scratch_floats(nil, B, S, Hq, Hkv, hd))
        var out = [Float](repeating: 0, count: a.out.count), lse = [Float](repeating: 0, count: a.B * a.Hq * a.S)
        lk_attention_fwd(nil, &scratch, &out, &lse, a.q, a.k, a.v, nil, B, S, Hq, Hkv, hd, scale)
        XCTAssertLessThanOrEqual(opsRelErr(out, a.out), 1e-5)
        var bscratch = [Float](repeating: 0, count: lk_attention_bwd_scratch_floats(nil, B, S, Hq, Hkv, hd))
        var dq = [Float](repeating: 0, count: a.q.count), dk = [Float](repeating: 0, count: a.k.count), dv = dk
        lk_attention_bwd(nil, &bscratch, &dq, &dk, &dv, a.dout, out, lse, a.q, a.k, a.v, nil, B, S, Hq, Hkv, hd, scale)
        XCTAssertLessThanOrEqual(opsRelErr(dq, a.dq), 1e-5)
        XCTAssertLessThanOrEqual(opsRelErr(dk, a.dk), 1e-5)
        XCTAssertLessThanOrEqual(opsRelErr(dv, a.dv), 1e-5)
    }

    func testSwiGLUAndCrossEntropy() throws {
        let g = try golden()
        let s = g.swiglu
        var h = [Float](repeating: 0, count: s.n), dg = h, du = h
        lk_swiglu_fwd(nil, &h, s.g, s.u, Int64(s.n))
        lk_swiglu_bwd(nil, &dg, &du, s.dh, s.g, s.u, Int64(s.n))
        XCTAssertLessThanOrEqual(opsRelErr(h, s.h), 1e-6)
        XCTAssertLessThanOrEqual(opsRelErr(dg, s.dg), 1e-6)
        XCTAssertLessThanOrEqual(opsRelErr(du, s.du), 1e-6)
        let x = g.xent
        var losses = [Float](repeating: 0, count: x.n), logits = x.logits, lossOnly = losses
        lk_cross_entropy_fwd_bwd(nil, &losses, &logits, x.targets, Int64(x.n), Int64(x.V), x.scale)
        lk_cross_entropy_fwd(nil, &lossOnly, x.logits, x.targets, Int64(x.n), Int64(x.V))
        XCTAssertLessThanOrEqual(opsRelErr(losses, x.losses), 1e-6)
        XCTAssertLessThanOrEqual(opsRelErr(lossOnly, x.losses), 1e-6)
        XCTAssertLessThanOrEqual(opsRelErr(logits, x.dlogits), 1e-6)
    }

    func testAdamWThreeSteps() throws {
        let a = try golden().adamw
        var p = a.param0, m = [Float](repeating: 0, count: a.n), v = m
        for step in 0..<3 {
            lk_adamw_step(&p, &m, &v, a.grads[step], Int64(a.n), a.lr, a.beta1, a.beta2, a.eps, a.weight_decay,
                          Int64(step + 1), 1)
            for i in 0..<a.n { XCTAssertEqual(p[i], a.params[step][i], accuracy: 2e-7, "step \(step + 1) i=\(i)") }
        }
    }
}
