using System.Security.Cryptography;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Confidence;
using BottleneckPipeline.Config;
using BottleneckPipeline.Decoding;
using BottleneckPipeline.Imaging;
using BottleneckPipeline.Runtime;
using Microsoft.ML.OnnxRuntime;

namespace BottleneckPipeline.Evaluate.Export;

/// <summary>What the exported model answers for one image: its class probabilities and, when the model carries the
/// unknown rule, its unknown score and whether the score is past the threshold.</summary>
internal sealed record ModelAnswer(float[] Probabilities, double? UnknownScore, bool Unknown);

/// <summary>One file as the exported model classified it, or why it was skipped.</summary>
/// <param name="ContentId">SHA-256 of the bytes classified (null when the file could not be read).</param>
internal sealed record ClassifiedImage(string Path, string? ContentId, ModelAnswer? Answer, string? Skipped)
{
    public float[]? Probabilities => Answer?.Probabilities;
}

/// <summary>
/// model.onnx on its own: its metadata says how an image becomes its input, its graph does the rest.
/// predict and Evaluate --data classify through here, so what they report is what the shipped file
/// answers; Evaluate's export check runs the same session on the test images.
/// </summary>
internal sealed class ExportedModel : IDisposable
{
    private const int Batch = 8;
    private readonly InferenceSession _session;
    private readonly long[] _inputDims;

    public string Path { get; }
    public ModelMetadata Metadata { get; }

    private ExportedModel(string path, InferenceSession session, ModelMetadata metadata)
    {
        Path = path;
        _session = session;
        Metadata = metadata;
        _inputDims = [.. session.InputMetadata[HeadExporter.InputName].Dimensions.Select(d => (long)d)];
        HasUnknownRule = session.OutputMetadata.ContainsKey(UnknownScoreGraph.ScoreOutput) && session.OutputMetadata.ContainsKey(UnknownScoreGraph.FlagOutput);
    }

    /// <summary>Whether the model carries the unknown rule (its score and flag outputs).</summary>
    public bool HasUnknownRule { get; }

    /// <param name="threads">ONNX Runtime intra-op threads; 0: its default (one per core).</param>
    public static ExportedModel Open(string path, int threads = 0)
    {
        path = System.IO.Path.GetFullPath(path);
        if (!File.Exists(path))
            throw new InputException($"no model at {path}. Run the pipeline (make) to export it, or pass the path of a model.onnx that Evaluate wrote.");
        // Its own checksum first: a damaged model can load and answer, wrongly.
        if (ModelChecksum.Check(File.ReadAllBytes(path)) is { } fault)
            throw new DamagedArtifactException(path, fault, "export it again with make evaluate, which re-exports a model.onnx that fails its checksum");
        InferenceSession session;
        using (var options = new SessionOptions { IntraOpNumThreads = threads })
        {
            try { session = new InferenceSession(path, options); }
            catch (OnnxRuntimeException e)
            {
                throw new InputException($"{path} is not a model ONNX Runtime can load ({e.Message.Split('\n')[0]}). Export it again with make evaluate.", e);
            }
        }
        try
        {
            var metadata = ModelMetadata.Read(path, session.ModelMetadata.CustomMetadataMap);
            if (!session.InputMetadata.ContainsKey(HeadExporter.InputName) || !session.OutputMetadata.ContainsKey(HeadExporter.OutputName))
                throw new InputException($"{path} has no '{HeadExporter.InputName}' input or no '{HeadExporter.OutputName}' output: " +
                                         "it is not a model Evaluate exported.");
            return new ExportedModel(path, session, metadata);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>The model's answers for CHW RGB 0..255 images of its input size, run in batches.</summary>
    public ModelAnswer[] Run(IReadOnlyList<float[]> pixelImages, CancellationToken ct = default)
    {
        var batchLimit = _inputDims[0] > 0 ? (int)_inputDims[0] : Batch;
        var perImage = 3L * Metadata.InputSize * Metadata.InputSize;
        var results = new ModelAnswer[pixelImages.Count];
        string[] outputNames = HasUnknownRule
            ? [HeadExporter.OutputName, UnknownScoreGraph.ScoreOutput, UnknownScoreGraph.FlagOutput]
            : [HeadExporter.OutputName];
        using var runOptions = new RunOptions();
        for (var start = 0; start < pixelImages.Count; start += batchLimit)
        {
            ct.ThrowIfCancellationRequested();
            var count = Math.Min(batchLimit, pixelImages.Count - start);
            var batch = new float[count * perImage];
            for (var k = 0; k < count; k++)
            {
                if (pixelImages[start + k].Length != perImage)
                    throw new ArgumentException($"image {start + k} has {pixelImages[start + k].Length} values, the model takes {perImage}");
                pixelImages[start + k].CopyTo(batch, k * perImage);
            }
            using var value = OrtValue.CreateTensorValueFromMemory(batch, [count, 3, Metadata.InputSize, Metadata.InputSize]);
            using var outputs = _session.Run(runOptions, [HeadExporter.InputName], [value], outputNames);
            var probabilities = outputs[0].GetTensorDataAsSpan<float>();
            var classes = probabilities.Length / count;
            for (var k = 0; k < count; k++)
            {
                var p = probabilities.Slice(k * classes, classes).ToArray();
                results[start + k] = HasUnknownRule
                    ? new ModelAnswer(p, outputs[1].GetTensorDataAsSpan<float>()[k], outputs[2].GetTensorDataAsSpan<bool>()[k])
                    : new ModelAnswer(p, null, false);
            }
        }
        return results;
    }

    /// <summary>Classifies image files: each is read (regular files only, at most <see cref="ImageFile.MaxBytes"/>),
    /// decoded and resized as the metadata says, and run; a file that cannot be is skipped with the reason.</summary>
    /// <param name="maxPixels">images with more pixels are skipped before decoding.</param>
    public IReadOnlyList<ClassifiedImage> Classify(IReadOnlyList<string> files, long maxPixels, CancellationToken ct = default)
    {
        var results = new ClassifiedImage[files.Count];
        for (var start = 0; start < files.Count; start += Batch)
        {
            var count = Math.Min(Batch, files.Count - start);
            var pixels = new float[count][];
            var ids = new string?[count];
            Parallel.For(0, count, new ParallelOptions { CancellationToken = ct }, k =>
            {
                var path = files[start + k];
                try
                {
                    var bytes = ImageFile.ReadAllBytes(path);
                    ids[k] = Convert.ToHexStringLower(SHA256.HashData(bytes));
                    pixels[k] = Pixels(bytes, Metadata.InputSize, Metadata.Resize, Metadata.Decode, maxPixels);
                }
                catch (ImageRejectedException e) { results[start + k] = new ClassifiedImage(path, ids[k], null, e.Message); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    results[start + k] = new ClassifiedImage(path, ids[k], null, $"unreadable: {e.Message}");
                }
            });
            var ready = Enumerable.Range(0, count).Where(k => results[start + k] is null).ToList();
            var answers = Run([.. ready.Select(k => pixels[k])], ct);
            for (var r = 0; r < ready.Count; r++)
                results[start + ready[r]] = new ClassifiedImage(files[start + ready[r]], ids[ready[r]], answers[r], null);
        }
        return results;
    }

    /// <summary>An image as the exported model takes it: decoded and resized exactly as Extract does it, RGB 0..255, CHW.</summary>
    public static float[] Pixels(byte[] bytes, int size, ResizeMode resize, DecodePolicy decode, long maxPixels)
    {
        using var image = InputDecoder.Decode(bytes, maxPixels, size, resize, decode);
        var pixels = new float[3 * size * size];
        TensorWriter.Write(image, RawRgb, TensorLayout.Nchw, pixels);
        return pixels;
    }

    /// <summary>The identity: the exported graph normalizes the pixels itself.</summary>
    private static readonly Preprocessing RawRgb = new()
    {
        Preset = NormalizationPreset.Custom,
        SourceChannel = [0, 1, 2],
        Scale = [1f, 1f, 1f],
        Offset = [0f, 0f, 0f],
    };

    public void Dispose() => _session.Dispose();
}
