using BottleneckPipeline.Cache;

namespace BottleneckPipeline.Extract.Inspect;

/// <summary>
/// What `Extract inspect` learnt about the configured backbone: the graph as the file states it,
/// what the pipeline would do with it (bottleneck, input size, layout, normalization, fingerprint),
/// and what one real image gives. Printed as text or, property for property, as JSON.
/// </summary>
internal sealed record BackboneInspection
{
    public required string Backbone { get; init; }
    public required ModelFacts Model { get; init; }
    public required IReadOnlyList<TensorFacts> Inputs { get; init; }
    public required IReadOnlyList<TensorFacts> Outputs { get; init; }
    public required BottleneckFacts Bottleneck { get; init; }
    public required InputSettings Input { get; init; }
    public required string Fingerprint { get; init; }
    /// <summary>Nodes of the main graph (not counting If/Loop bodies).</summary>
    public required int Nodes { get; init; }
    /// <summary>Op types of the main graph with their node counts, most used first.</summary>
    public required IReadOnlyList<OpCount> Ops { get; init; }
    public required InspectionTiming Timing { get; init; }
    public required string Image { get; init; }
    public required VectorSample Vector { get; init; }
    /// <summary>Signs that the model is not fed what it expects (or cannot tell images apart).</summary>
    public required IReadOnlyList<string> Warnings { get; init; }
}

internal sealed record ModelFacts(string Path, long Bytes, string Sha256, string Producer, IReadOnlyList<string> Opsets);

/// <summary>A graph input or output: its element type and shape, "N" where a dimension is free.</summary>
internal sealed record TensorFacts(string Name, string Type, string Shape);

/// <param name="Shape">As recorded in the graph; null for an intermediate tensor the graph gives no shape.</param>
/// <param name="Dimension">Values per image the pipeline caches, as the run measured them.</param>
/// <param name="Reason">Which rule chose the tensor.</param>
internal sealed record BottleneckFacts(string Tensor, string? Shape, int Dimension, string Reason);

/// <summary>How images become the model's input, each setting with where it came from.</summary>
internal sealed record InputSettings(
    int Size, string SizeFrom, string Layout, string LayoutFrom, string Normalization, string NormalizationFrom, string Resize, string Shape);

internal sealed record OpCount(string Op, int Count);

/// <param name="SessionMs">Loading the model into an ONNX Runtime session.</param>
/// <param name="FirstRunMs">The first image, which includes ONNX Runtime's one-time work.</param>
/// <param name="RunMs">The best of the next runs on the same image: the steady cost of one image.</param>
/// <param name="Threads">Intra-op threads of the one session (Extract itself runs several single-threaded ones).</param>
internal sealed record InspectionTiming(double SessionMs, double FirstRunMs, double RunMs, int Runs, int Threads);

/// <summary>One image's bottleneck vector, summarized.</summary>
/// <param name="First">The first values (at most 8).</param>
/// <param name="Norm">Euclidean norm; NaN when any value is.</param>
/// <param name="ZeroShare">Fraction of values exactly 0.</param>
/// <param name="NonFinite">Values that are NaN or infinite.</param>
/// <param name="Min">Smallest finite value (0 when there is none).</param>
/// <param name="Max">Largest finite value (0 when there is none).</param>
/// <param name="SameForGray">Whether a plain mid-gray image gives the same vector, or one nearly the same
/// (as Extract's check of a run's vectors judges it: <see cref="VectorHealth"/>).</param>
internal sealed record VectorSample(int Dimension, float[] First, double Norm, double ZeroShare, int NonFinite, float Min, float Max, bool SameForGray)
{
    public static VectorSample Of(ReadOnlySpan<float> v, ReadOnlySpan<float> gray)
    {
        double sumSquares = 0;
        int zeros = 0, nonFinite = 0;
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (var x in v)
        {
            sumSquares += (double)x * x;
            if (x == 0) zeros++;
            if (!float.IsFinite(x)) { nonFinite++; continue; }
            min = Math.Min(min, x);
            max = Math.Max(max, x);
        }
        if (nonFinite == v.Length) min = max = 0;
        // Bitwise first, so that NaN compares equal to NaN: a vector of NaN is the same for every image.
        var same = System.Runtime.InteropServices.MemoryMarshal.AsBytes(v).SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(gray))
                   || VectorHealth.Measure([v.ToArray(), gray.ToArray()]).MeanCosineDistance < VectorHealth.SameDirection;
        return new VectorSample(v.Length, v[..Math.Min(8, v.Length)].ToArray(), Math.Sqrt(sumSquares),
            v.Length == 0 ? 0 : (double)zeros / v.Length, nonFinite, min, max, same);
    }

    /// <summary>
    /// What a model fed the wrong input usually shows: NaN or infinite values, a vector of (nearly)
    /// all zeros (every unit cut off by a ReLU), or the same vector whatever the image. Each warning
    /// names the settings to check.
    /// </summary>
    public IReadOnlyList<string> Warnings(string normalization)
    {
        const string check = "check 'backbone.normalization' (now {0}), 'backbone.layout' and 'backbone.input_size' against what the model was trained with";
        var advice = string.Format(System.Globalization.CultureInfo.InvariantCulture, check, normalization);
        var warnings = new List<string>();
        if (NonFinite > 0)
            warnings.Add($"{NonFinite} of the {Dimension} values are NaN or infinite: the model cannot give usable features this way; {advice}.");
        else if (ZeroShare >= VectorHealth.MostlyZero || Norm < VectorHealth.TinyNorm)
        {
            var zeros = ZeroShare == 1 ? "every value of the vector is 0"
                : ZeroShare >= 0.99 ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{ZeroShare * 100:0.0}% of the vector's values are 0")
                : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"the vector is practically 0 (norm {Norm:G3})");
            warnings.Add($"{zeros}: a head learns next to nothing from it; {advice} (or the model is untrained: zero or random weights).");
        }
        else if (SameForGray)
            warnings.Add($"a plain gray image gives the same vector as this photo, or one nearly the same: the features do not depend on the image; {advice}.");
        return warnings;
    }
}
