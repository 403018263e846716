using Google.Protobuf;
using Onnx;

namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>Tiny real ONNX backbones built in code, for paths the two shipped models do not take.</summary>
public static class TinyBackbone
{
    public const int Size = 8;
    public const int Dimension = 3;

    /// <summary>
    /// x [N,3,8,8] -> GlobalAveragePool = "pooled" [N,3,1,1] -> Flatten -> "features" [N,3]. The
    /// graph records no shape for "pooled", so a config naming it as the bottleneck leaves the
    /// dimension unknown (0) until a session has run: each image's vector is its mean colour.
    /// </summary>
    public static byte[] ShapelessBottleneck()
    {
        var model = new ModelProto { IrVersion = 7, Graph = new GraphProto { Name = "tiny" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        var g = model.Graph;
        g.Input.Add(Info("x", "N", 3, Size, Size));
        var pool = new NodeProto { OpType = "GlobalAveragePool", Name = "pool" };
        pool.Input.Add("x");
        pool.Output.Add("pooled");
        var flatten = new NodeProto { OpType = "Flatten", Name = "flat" };
        flatten.Input.Add("pooled");
        flatten.Output.Add("features");
        g.Node.AddRange([pool, flatten]);
        g.Output.Add(Info("features", "N", Dimension));
        return model.ToByteArray();
    }

    private static ValueInfoProto Info(string name, string batch, params long[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = batch });
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }
}
