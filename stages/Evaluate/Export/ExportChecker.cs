using BottleneckPipeline.Metrics;

namespace BottleneckPipeline.Evaluate.Export;

/// <summary>
/// Runs the exported model with ONNX Runtime on raw images and compares it with the cached path
/// (backbone vectors from the cache, head applied in C#): the arg-max must agree on at least
/// 99.9% of images and no probability may differ by more than 1e-4.
/// </summary>
public static class ExportChecker
{
    public const double RequiredAgreement = 0.999;
    public const double AllowedProbabilityDifference = 1e-4;

    /// <param name="pixelImages">each image CHW RGB float in [0, 255], 3 x size x size.</param>
    /// <param name="expectedProbabilities">the cached path's probabilities for the same images.</param>
    public static ExportReport Check(string exportedModelPath, IReadOnlyList<float[]> pixelImages, IReadOnlyList<float[]> expectedProbabilities, int intraOpThreads = 0,
        CancellationToken ct = default)
    {
        if (pixelImages.Count != expectedProbabilities.Count) throw new ArgumentException($"{pixelImages.Count} images but {expectedProbabilities.Count} expected rows");
        if (pixelImages.Count == 0) throw new ArgumentException("the export check needs at least one image");
        var actual = Run(exportedModelPath, pixelImages, intraOpThreads, ct);
        var agree = 0;
        var maxDiff = 0.0;
        for (var i = 0; i < actual.Length; i++)
        {
            var expected = expectedProbabilities[i];
            if (expected.Length != actual[i].Length) throw new ArgumentException($"image {i}: the exported model gives {actual[i].Length} classes, the head {expected.Length}");
            if (ClassificationMetrics.ArgMax(expected) == ClassificationMetrics.ArgMax(actual[i])) agree++;
            for (var c = 0; c < expected.Length; c++) maxDiff = Math.Max(maxDiff, Math.Abs(expected[c] - actual[i][c]));
        }
        var agreement = (double)agree / actual.Length;
        return new ExportReport(exportedModelPath, actual.Length, agreement, maxDiff,
            agreement >= RequiredAgreement && maxDiff <= AllowedProbabilityDifference, RequiredAgreement, AllowedProbabilityDifference);
    }

    /// <summary>The exported model's probabilities for each image (batched when the model allows it).</summary>
    public static float[][] Run(string exportedModelPath, IReadOnlyList<float[]> pixelImages, int intraOpThreads = 0, CancellationToken ct = default)
    {
        using var model = ExportedModel.Open(exportedModelPath, intraOpThreads);
        return model.Run(pixelImages, ct);
    }
}
