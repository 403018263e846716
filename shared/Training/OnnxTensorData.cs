using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace BottleneckPipeline.Training;

/// <summary>Values of ONNX tensors (initializers and Constant nodes) as .NET arrays, and back.</summary>
public static class OnnxTensorData
{
    public const TensorProto.Types.DataType Float = TensorProto.Types.DataType.Float;
    public const TensorProto.Types.DataType Double = TensorProto.Types.DataType.Double;
    public const TensorProto.Types.DataType Int64 = TensorProto.Types.DataType.Int64;

    public static float[] ReadFloats(TensorProto t) => (TensorProto.Types.DataType)t.DataType switch
    {
        Float => t.FloatData.Count > 0 ? [.. t.FloatData] : MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray(),
        Double => [.. ReadDoubles(t).Select(d => (float)d)],
        _ => throw new InvalidDataException($"tensor '{t.Name}' is {(TensorProto.Types.DataType)t.DataType}, not a floating-point tensor"),
    };

    public static double[] ReadDoubles(TensorProto t) => (TensorProto.Types.DataType)t.DataType switch
    {
        Double => t.DoubleData.Count > 0 ? [.. t.DoubleData] : MemoryMarshal.Cast<byte, double>(t.RawData.Span).ToArray(),
        Float => [.. ReadFloats(t).Select(f => (double)f)],
        _ => throw new InvalidDataException($"tensor '{t.Name}' is {(TensorProto.Types.DataType)t.DataType}, not a floating-point tensor"),
    };

    public static long[] ReadInt64s(TensorProto t) => (TensorProto.Types.DataType)t.DataType switch
    {
        Int64 => t.Int64Data.Count > 0 ? [.. t.Int64Data] : MemoryMarshal.Cast<byte, long>(t.RawData.Span).ToArray(),
        TensorProto.Types.DataType.Int32 => t.Int32Data.Count > 0
            ? [.. t.Int32Data.Select(i => (long)i)]
            : [.. MemoryMarshal.Cast<byte, int>(t.RawData.Span).ToArray().Select(i => (long)i)],
        _ => throw new InvalidDataException($"tensor '{t.Name}' is {(TensorProto.Types.DataType)t.DataType}, not an integer tensor"),
    };

    public static TensorProto MakeInt64(string name, long[] values, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)Int64 };
        t.Dims.AddRange(dims);
        t.Int64Data.AddRange(values);
        return t;
    }

    /// <summary>A floating-point tensor of the given element type (float or double).</summary>
    public static TensorProto MakeReal(string name, TensorProto.Types.DataType type, double[] values, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)type };
        t.Dims.AddRange(dims);
        t.RawData = type switch
        {
            Float => ByteString.CopyFrom(MemoryMarshal.AsBytes([.. values.Select(v => (float)v)])),
            Double => ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())),
            _ => throw new ArgumentException($"element type {type} is not float or double"),
        };
        return t;
    }

    public static TensorProto MakeFloat(string name, float[] values, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)Float };
        t.Dims.AddRange(dims);
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        return t;
    }

    public static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, long[]? dims)
    {
        var tensor = new TypeProto.Types.Tensor { ElemType = (int)type };
        if (dims is not null)
        {
            var shape = new TensorShapeProto();
            foreach (var d in dims)
                shape.Dim.Add(d >= 0 ? new TensorShapeProto.Types.Dimension { DimValue = d } : new TensorShapeProto.Types.Dimension { DimParam = "batch" });
            tensor.Shape = shape;
        }
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensor } };
    }
}
