namespace BottleneckPipeline.Quantization;

/// <summary>How the int8 graph is written: QuantizeLinear/DequantizeLinear pairs that ONNX Runtime fuses
/// into its int8 kernels (<see cref="Qdq"/>), or the convolutions as standard QLinearConv operators
/// (<see cref="Operator"/>), which need no fusion rule.</summary>
internal enum Int8Form { Qdq, Operator }

/// <summary>
/// Everything besides the calibration that decides the int8 graph: the integer types, the form, and
/// whether the stem (each Conv reading the image itself) stays float32. Part of the fingerprint.
/// </summary>
internal sealed record Int8Recipe(QdqFormat Format, Int8Form Form, bool FloatStem)
{
    public override string ToString() => $"{Format}, {(Form == Int8Form.Qdq ? "QDQ" : "QLinearConv")}{(FloatStem ? ", float32 stem" : "")}";
}
