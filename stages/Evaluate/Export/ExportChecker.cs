using BottleneckPipeline.Metrics;

namespace BottleneckPipeline.Evaluate.Export;

/// <summary>
/// Runs the exported model with ONNX Runtime on raw images and compares it with the cached path
/// (backbone vectors from the cache, head and unknown rule applied in C#): the arg-max must agree on
/// at least 99.9% of images, no probability may differ by more than 1e-4, and the unknown flag must
/// agree on at least 99.9% of images (an image whose score lies within float rounding of the
/// threshold may fall either side, and is not counted against it).
/// </summary>
internal static class ExportChecker
{
    public const double RequiredAgreement = 0.999;
    public const double AllowedProbabilityDifference = 1e-4;

    /// <param name="pixelImages">each image CHW RGB float in [0, 255], 3 x size x size.</param>
    /// <param name="expectedProbabilities">the cached path's probabilities for the same images.</param>
    /// <param name="expectedUnknown">the cached path's unknown scores for the same images and the threshold; null when the model carries no
    /// unknown rule.</param>
    public static ExportReport Check(string exportedModelPath, IReadOnlyList<float[]> pixelImages, IReadOnlyList<float[]> expectedProbabilities,
        (IReadOnlyList<double> Scores, double Threshold)? expectedUnknown = null, int intraOpThreads = 0, CancellationToken ct = default)
    {
        if (pixelImages.Count != expectedProbabilities.Count)
            throw new ArgumentException($"{pixelImages.Count} images but {expectedProbabilities.Count} expected rows");
        if (pixelImages.Count == 0) throw new ArgumentException("the export check needs at least one image");
        ModelAnswer[] actual;
        using (var model = ExportedModel.Open(exportedModelPath, intraOpThreads))
        {
            if (expectedUnknown is not null && !model.HasUnknownRule) throw new ArgumentException("the exported model carries no unknown rule to check");
            actual = model.Run(pixelImages, ct);
        }
        var agree = 0;
        var unknownAgree = 0;
        var maxDiff = 0.0;
        for (var i = 0; i < actual.Length; i++)
        {
            var expected = expectedProbabilities[i];
            var p = actual[i].Probabilities;
            if (expected.Length != p.Length) throw new ArgumentException($"image {i}: the exported model gives {p.Length} classes, the head {expected.Length}");
            if (ClassificationMetrics.ArgMax(expected) == ClassificationMetrics.ArgMax(p)) agree++;
            for (var c = 0; c < expected.Length; c++) maxDiff = Math.Max(maxDiff, Math.Abs(expected[c] - p[c]));
            if (expectedUnknown is { } u)
            {
                var (score, threshold) = (u.Scores[i], u.Threshold);
                var onTheLine = Math.Abs(score - threshold) <= 1e-4 * Math.Max(1, Math.Abs(threshold));
                if (onTheLine || (score > threshold) == actual[i].Unknown) unknownAgree++;
            }
        }
        var agreement = (double)agree / actual.Length;
        double? unknownAgreement = expectedUnknown is null ? null : (double)unknownAgree / actual.Length;
        var passed = agreement >= RequiredAgreement && maxDiff <= AllowedProbabilityDifference && (unknownAgreement ?? 1) >= RequiredAgreement;
        return new ExportReport(exportedModelPath, actual.Length, agreement, maxDiff, passed, RequiredAgreement, AllowedProbabilityDifference)
        {
            UnknownAgreement = unknownAgreement,
        };
    }

    /// <summary>The exported model's probabilities for each image (batched when the model allows it).</summary>
    public static float[][] Run(string exportedModelPath, IReadOnlyList<float[]> pixelImages, int intraOpThreads = 0, CancellationToken ct = default)
    {
        using var model = ExportedModel.Open(exportedModelPath, intraOpThreads);
        return [.. model.Run(pixelImages, ct).Select(a => a.Probabilities)];
    }
}
