using System.Diagnostics;
using System.Security.Cryptography;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Config;
using BottleneckPipeline.Embedding;
using BottleneckPipeline.Imaging;
using BottleneckPipeline.Runtime;
using Onnx;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace BottleneckPipeline.Extract.Inspect;

/// <summary>
/// `Extract inspect`: resolves the configured backbone exactly as Extract does, then runs one real
/// image through it the way Extract would (same preparation, same edited graph), so a user sees what
/// the pipeline made of their model before a long extraction. Reads only the config, the model and
/// the image: no workspace, lock, index or cache is touched or created.
/// </summary>
internal static class BackboneInspector
{
    /// <summary>Steady-state runs timed after the first one; the best is reported.</summary>
    private const int TimedRuns = 3;

    /// <param name="imagePath">The image to run; null for the first readable image under dataset.root.</param>
    public static BackboneInspection Inspect(PipelineConfig config, string? imagePath = null)
    {
        var r = BackboneFactory.Explain(config);
        var spec = r.Spec;
        var model = r.Model;
        var graph = new OnnxGraphInfo(model.Graph);
        var s = spec.InputSize;

        var preparer = new ImagePreparer(spec, config.Dataset.MaxPixels);
        var input = new float[spec.ValuesPerImage];
        var image = imagePath is null ? FirstImage(config.Dataset.Root, preparer, input) : Prepare(Path.GetFullPath(imagePath), preparer, input);
        var (timing, vector, gray, dim) = Run(spec, input);
        var sample = VectorSample.Of(vector.AsSpan(0, dim), gray.AsSpan(0, dim));

        return new BackboneInspection
        {
            Backbone = spec.DisplayName,
            Model = new ModelFacts(spec.ModelPath, new FileInfo(spec.ModelPath).Length, spec.ModelSha256,
                $"{model.ProducerName} {model.ProducerVersion}".Trim(),
                [.. model.OpsetImport.Select(o => $"{(o.Domain.Length == 0 ? "ai.onnx" : o.Domain)} {o.Version}")]),
            Inputs = [.. graph.Inputs.Select(i => Tensor(graph, i))],
            Outputs = [.. graph.Outputs.Select(o => Tensor(graph, o))],
            Bottleneck = new BottleneckFacts(spec.BottleneckTensor,
                graph.Shape(spec.BottleneckTensor) is { } shape ? OnnxGraphInfo.ShowShape(shape) : null, dim, spec.BottleneckReason),
            Input = new InputSettings(s, r.InputSizeFrom, Lower(spec.Layout), r.LayoutFrom, spec.Preprocessing.Explain(), r.NormalizationFrom,
                Lower(spec.Resize), spec.Layout == TensorLayout.Nchw ? $"[1,3,{s},{s}]" : $"[1,{s},{s},3]"),
            Fingerprint = spec.Fingerprint,
            Nodes = model.Graph.Node.Count,
            Ops = [.. model.Graph.Node
                .GroupBy(n => n.Domain is "" or "ai.onnx" ? n.OpType : $"{n.Domain}.{n.OpType}")
                .Select(g => new OpCount(g.Key, g.Count()))
                .OrderByDescending(o => o.Count).ThenBy(o => o.Op, StringComparer.Ordinal)],
            Timing = timing,
            Image = image,
            Vector = sample,
            Warnings = sample.Warnings(ConfigLoader.Snake(spec.Preprocessing.Preset.ToString(), '-')),
        };
    }

    /// <summary>Runs the prepared image through the graph Extract would run (bottleneck as output,
    /// batch made dynamic), timed, then a plain gray image; the dimension is what the run produced.</summary>
    private static (InspectionTiming Timing, float[] Vector, float[] Gray, int Dimension) Run(BackboneSpec spec, float[] input)
    {
        var threads = Environment.ProcessorCount;
        var clock = Stopwatch.StartNew();
        using var session = BackboneSession.Create(spec, threads);
        var sessionMs = clock.Elapsed.TotalMilliseconds;
        var vector = Array.Empty<float>();
        clock.Restart();
        session.Run(input, 1, ref vector);
        var firstMs = clock.Elapsed.TotalMilliseconds;
        var bestMs = double.MaxValue;
        var again = Array.Empty<float>();
        for (var i = 0; i < TimedRuns; i++)
        {
            clock.Restart();
            session.Run(input, 1, ref again);
            bestMs = Math.Min(bestMs, clock.Elapsed.TotalMilliseconds);
        }
        var gray = Array.Empty<float>();
        session.Run(GrayImage(spec), 1, ref gray);
        return (new InspectionTiming(sessionMs, firstMs, bestMs, TimedRuns, threads), vector, gray, session.Dimension);
    }

    private static TensorFacts Tensor(OnnxGraphInfo graph, ValueInfoProto v)
    {
        var type = v.Type?.TensorType is { } t ? ((TensorProto.Types.DataType)t.ElemType).ToString().ToLowerInvariant() : "?";
        return new TensorFacts(v.Name, type, OnnxGraphInfo.ShowShape(graph.Shape(v.Name)));
    }

    private static string Lower<T>(T value) where T : Enum => ConfigLoader.Snake(value.ToString(), '-');

    /// <summary>The first image, in name order, of the first class folders that decodes: the photo
    /// Extract would meet first.</summary>
    private static string FirstImage(string root, ImagePreparer preparer, float[] input)
    {
        const int tries = 20;
        var candidates = !Directory.Exists(root) ? [] : Directory.GetDirectories(root)
            .Where(d => !Path.GetFileName(d).StartsWith('.')).Order(StringComparer.Ordinal)
            .SelectMany(d => Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories)
                .Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal))
            .Take(tries);
        foreach (var file in candidates)
            if (TryPrepare(file, preparer, input) is null) return file;
        throw new InputException($"no image to run the model on: dataset.root {root} has no readable image in its class folders. " +
                                 "Fix dataset.root, or pass one with --image FILE.");
    }

    private static string Prepare(string path, ImagePreparer preparer, float[] input)
    {
        if (!File.Exists(path)) throw new InputException($"--image {path}: file not found.");
        return TryPrepare(path, preparer, input) is { } reason
            ? throw new InputException($"--image {path}: {reason}. Pass an image file (JPEG, PNG, BMP, GIF, WebP, TIFF).")
            : path;
    }

    /// <summary>Decodes and normalizes exactly as Extract does; null on success, else why not.</summary>
    private static string? TryPrepare(string path, ImagePreparer preparer, float[] input)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return $"cannot read it ({e.Message})"; }
        var id = Convert.ToHexStringLower(SHA256.HashData(bytes));
        return preparer.Prepare(new ImageWork(id, path, path), input)?.Reason;
    }

    /// <summary>A plain mid-gray image, prepared like any other: a real model gives it a vector of its own.</summary>
    private static float[] GrayImage(BackboneSpec spec)
    {
        using var gray = new Image<Rgb24>(spec.InputSize, spec.InputSize, new Rgb24(128, 128, 128));
        var input = new float[spec.ValuesPerImage];
        TensorWriter.Write(gray, spec.Preprocessing, spec.Layout, input);
        return input;
    }
}
