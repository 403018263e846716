using Onnx;

namespace BottleneckPipeline.Training;

/// <summary>Gemm: Y = alpha * op(A) op(B) + beta * C, each gradient one more Gemm (or a sum for C).</summary>
internal sealed class GemmGradient : GradientRule
{
    public override IReadOnlyList<int> WeightInputs => [1, 2];

    public override void Backward(NodeProto node, GradientContext ctx)
    {
        var dy = ctx.GradientOf(node.Output[0]);
        if (dy is null) return;
        var e = ctx.Emit;
        var (a, b) = (node.Input[0], node.Input[1]);
        var transA = OnnxAttributes.Int(node, "transA", 0);
        var transB = OnnxAttributes.Int(node, "transB", 0);
        var alpha = OnnxAttributes.Float(node, "alpha", 1f);
        var beta = OnnxAttributes.Float(node, "beta", 1f);
        AttributeProto Alpha() => OnnxAttributes.MakeFloat("alpha", alpha);
        if (ctx.NeedsGradient(a))
        {
            // op(A) = A: dA = alpha dY op(B)^T;  op(A) = A^T: dA = alpha op(B) dY^T.
            ctx.AddGradient(a, transA == 0
                ? e.Op("Gemm", "gemm_da", [dy, b], Alpha(), OnnxAttributes.MakeInt("transB", 1 - transB))
                : e.Op("Gemm", "gemm_da", [b, dy], Alpha(), OnnxAttributes.MakeInt("transA", transB), OnnxAttributes.MakeInt("transB", 1)));
        }
        if (ctx.NeedsGradient(b))
        {
            // op(B) = B: dB = alpha op(A)^T dY;  op(B) = B^T: dB = alpha dY^T op(A).
            ctx.AddGradient(b, transB == 0
                ? e.Op("Gemm", "gemm_db", [a, dy], Alpha(), OnnxAttributes.MakeInt("transA", 1 - transA))
                : e.Op("Gemm", "gemm_db", [dy, a], Alpha(), OnnxAttributes.MakeInt("transA", 1), OnnxAttributes.MakeInt("transB", transA)));
        }
        if (node.Input.Count > 2 && node.Input[2].Length > 0 && ctx.NeedsGradient(node.Input[2]))
        {
            var scaled = beta == 1f ? dy : e.Mul(dy, e.Scalar(beta), "gemm_dc");
            ctx.AddGradient(node.Input[2], ctx.Unbroadcast(scaled, ctx.Shape(node.Output[0]), ctx.Shape(node.Input[2]), "gemm_dc"));
        }
    }
}

/// <summary>MatMul of A [..., M, K] by a matrix B [K, N]: dA = dY B^T, dB = A^T dY summed over A's leading axes.</summary>
internal sealed class MatMulGradient : GradientRule
{
    public override IReadOnlyList<int> WeightInputs => [0, 1];

    public override string? Unsupported(NodeProto node, GradientContext ctx) =>
        ctx.Shape(node.Input[1]).Length != 2 || ctx.Shape(node.Input[0]).Length < 2
            ? "MatMul has a gradient rule only for A [..., M, K] times a matrix B [K, N]"
            : null;

    public override void Backward(NodeProto node, GradientContext ctx)
    {
        var dy = ctx.GradientOf(node.Output[0]);
        if (dy is null) return;
        var e = ctx.Emit;
        var (a, b) = (node.Input[0], node.Input[1]);
        var bShape = ctx.Shape(b);
        if (ctx.NeedsGradient(a))
            ctx.AddGradient(a, e.Op("MatMul", "matmul_da", [dy, e.Transpose(b, "matmul_bt", 1, 0)]));
        if (ctx.NeedsGradient(b))
        {
            var rowsA = e.Reshape(a, "matmul_a_rows", -1, bShape[0]);
            var rowsDy = e.Reshape(dy, "matmul_dy_rows", -1, bShape[1]);
            ctx.AddGradient(b, e.Op("Gemm", "matmul_db", [rowsA, rowsDy], OnnxAttributes.MakeInt("transA", 1)));
        }
    }
}
