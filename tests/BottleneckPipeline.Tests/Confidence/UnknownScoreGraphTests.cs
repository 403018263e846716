using BottleneckPipeline.Confidence;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace BottleneckPipeline.Tests.Confidence;

public class UnknownScoreGraphTests
{
    /// <summary>A stand-in backbone: input [N, d, 1, 1] -> Identity -> "bottleneck", shaped like ResNet's pooled output.</summary>
    private static ModelProto TinyBackbone(int d, long opset)
    {
        var model = new ModelProto { IrVersion = opset >= 18 ? 8 : 3, ProducerName = "test" };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        var g = new GraphProto { Name = "tiny" };
        g.Input.Add(Info("pixels", "N", d, 1, 1));
        g.Node.Add(new NodeProto { OpType = "Identity", Name = "id", Input = { "pixels" }, Output = { "bottleneck" } });
        g.Output.Add(Info("bottleneck", "N", d, 1, 1));
        model.Graph = g;
        return model;
    }

    private static ValueInfoProto Info(string name, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var x in dims)
            shape.Dim.Add(x is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = (int)x });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }

    [Theory]
    [InlineData(8)]
    [InlineData(13)]
    [InlineData(18)]
    public void Onnx_runtime_gives_the_scores_and_flags_of_the_csharp_scorer(long opset)
    {
        const int d = 32;
        var (train, labels) = RelativeMahalanobisTests.Classes(60, 4, d, seed: 21);
        var (validation, _) = RelativeMahalanobisTests.Classes(20, 4, d, seed: 22);
        var scorer = RelativeMahalanobis.Fit(train, labels, ["a", "b", "c", "d"]);
        scorer = scorer.WithThreshold(scorer.Scores(validation));
        var model = TinyBackbone(d, opset);
        UnknownScoreGraph.Append(model, "bottleneck", scorer);
        var queries = validation.Take(12).Concat(RelativeMahalanobisTests.Far(6, d, seed: 23)).Append(new float[d]).ToList();

        using var session = new InferenceSession(model.ToByteArray());
        var input = queries.SelectMany(q => q).ToArray();
        using var value = OrtValue.CreateTensorValueFromMemory(input, [queries.Count, d, 1, 1]);
        using var results = session.Run(new RunOptions(), ["pixels"], [value], [UnknownScoreGraph.ScoreOutput, UnknownScoreGraph.FlagOutput]);
        var scores = results[0].GetTensorDataAsSpan<float>().ToArray();
        var flags = results[1].GetTensorDataAsSpan<bool>().ToArray();
        Assert.Equal(queries.Count, scores.Length);
        for (var i = 0; i < queries.Count; i++)
        {
            var expected = scorer.Score(queries[i]);
            Assert.True(Math.Abs(expected - scores[i]) <= 1e-3 * Math.Max(1, Math.Abs(expected)), $"row {i}: C# {expected}, ONNX {scores[i]}");
            // Right at the threshold float rounding may differ; elsewhere the flags agree.
            if (Math.Abs(expected - scorer.Threshold) > 1e-3 * Math.Max(1, Math.Abs(expected))) Assert.Equal(expected > scorer.Threshold, flags[i]);
        }
        Assert.True(flags.Skip(12).Take(6).All(f => f), "the far rows are flagged");
        var (threshold, keep) = UnknownScoreGraph.ReadMetadata(model);
        Assert.Equal(scorer.Threshold, threshold);
        Assert.Equal(0.95, keep);
    }

    [Fact]
    public void Refuses_a_scorer_without_threshold_and_a_missing_tensor()
    {
        var (train, labels) = RelativeMahalanobisTests.Classes(10, 2, 4, seed: 1);
        var scorer = RelativeMahalanobis.Fit(train, labels, ["a", "b"]);
        Assert.Throws<ArgumentException>(() => UnknownScoreGraph.Append(TinyBackbone(4, 8), "bottleneck", scorer));
        Assert.Throws<ArgumentException>(() => UnknownScoreGraph.Append(TinyBackbone(4, 8), "nope", scorer.WithThreshold([1.0])));
    }
}
