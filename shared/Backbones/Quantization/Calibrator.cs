using BottleneckPipeline.Backbones;
using BottleneckPipeline.Config;
using BottleneckPipeline.Embedding;
using BottleneckPipeline.Runtime;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace BottleneckPipeline.Quantization;

/// <summary>
/// Runs the calibration images through the float graph, with every planned activation tensor
/// exposed as an extra output, and gathers each tensor's statistics. The images are prepared by
/// Extract's own <see cref="ImagePreparer"/>, so the ranges are those of the tensors Extract feeds.
/// One pass for min-max; a second for the histograms percentile needs (images are
/// decoded again rather than kept: 200 prepared Inception inputs would hold 200 MB).
/// </summary>
internal static class Calibrator
{
    private const int Batch = 8;

    public static IReadOnlyDictionary<string, (float Low, float High)> Ranges(
        BackboneSpec spec, ModelProto optimized, QdqPlan plan, IReadOnlyList<ImageWork> images, long maxPixels,
        CalibrationMethod method, double percentileTail, CancellationToken ct) =>
        Statistics(spec, optimized, plan, images, maxPixels, ActivationStatistics.NeedsHistogram(method), ct)
            .ToDictionary(kv => kv.Key, kv => kv.Value.Range(method, percentileTail: percentileTail), StringComparer.Ordinal);

    /// <summary>Each planned tensor's statistics over the images (with <paramref name="histograms"/>, the second pass too).</summary>
    public static IReadOnlyDictionary<string, ActivationStatistics> Statistics(
        BackboneSpec spec, ModelProto optimized, QdqPlan plan, IReadOnlyList<ImageWork> images, long maxPixels,
        bool histograms, CancellationToken ct)
    {
        var model = optimized.Clone();
        var existing = model.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var t in plan.Tensors.Where(t => !existing.Contains(t)))
            model.Graph.Output.Add(new ValueInfoProto
            {
                Name = t,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        using var options = BackboneSession.Options(0, allowSpinning: true);
        using var session = new InferenceSession(Google.Protobuf.MessageExtensions.ToByteArray(model), options);
        var statistics = plan.Tensors.ToDictionary(t => t, _ => new ActivationStatistics(), StringComparer.Ordinal);
        var preparer = new ImagePreparer(spec, maxPixels);

        var used = Pass(spec, session, plan, images, preparer, (s, v) => s.AddToRange(v), statistics, ct);
        if (used == 0)
            throw new InputException($"none of the {images.Count} calibration images could be decoded (first: {images.FirstOrDefault()?.Path}). " +
                                     "Run Ingest again, or set 'backbone.precision: float32'.");
        if (histograms)
            Pass(spec, session, plan, images, preparer, (s, v) => s.AddToHistogram(v), statistics, ct);
        return statistics;
    }

    /// <summary>One pass over the images; returns how many could be prepared (a failed one is skipped).</summary>
    private static int Pass(BackboneSpec spec, InferenceSession session, QdqPlan plan, IReadOnlyList<ImageWork> images, ImagePreparer preparer,
                            Action<ActivationStatistics, ReadOnlySpan<float>> add, Dictionary<string, ActivationStatistics> statistics, CancellationToken ct)
    {
        var input = new float[Batch * spec.ValuesPerImage];
        var used = 0;
        var outputNames = plan.Tensors.ToArray();
        using var runOptions = new RunOptions();
        for (var start = 0; start < images.Count; start += Batch)
        {
            ct.ThrowIfCancellationRequested();
            var count = 0;
            foreach (var work in images.Skip(start).Take(Batch))
                if (preparer.Prepare(work, input.AsSpan(count * spec.ValuesPerImage, spec.ValuesPerImage)) is null) count++;
            if (count == 0) continue;
            used += count;
            var s = spec.InputSize;
            long[] shape = spec.Layout == TensorLayout.Nchw ? [count, 3, s, s] : [count, s, s, 3];
            using var value = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, input.AsMemory(0, count * spec.ValuesPerImage), shape);
            using var results = session.Run(runOptions, [spec.InputName], [value], outputNames);
            for (var k = 0; k < outputNames.Length; k++) add(statistics[outputNames[k]], results[k].GetTensorDataAsSpan<float>());
        }
        return used;
    }
}
