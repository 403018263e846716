using System.Globalization;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Decoding;
using BottleneckPipeline.Embedding;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.Head;
using BottleneckPipeline.Imaging;
using BottleneckPipeline.Index;
using BottleneckPipeline.Quantization;
using BottleneckPipeline.Runtime;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace BottleneckPipeline.Evaluate;

/// <summary>
/// The Evaluate stage and its two other uses: scoring another labelled folder (--data) and
/// classifying unlabelled images (predict). All three go through the same cache and backbone.
/// </summary>
public static class EvaluateStage
{
    /// <summary>A backbone and the head trained on its vectors; Name says which ("head only" or the fine-tuned model's).</summary>
    /// <param name="Note">why a fine-tuned model in the workspace was not used; null otherwise.</param>
    public sealed record ScoringModel(BackboneSpec Spec, HeadArtifact Head, string HeadPath, string Name, string? Note);

    public static readonly string[] Sections = ["evaluate"];

    /// <summary>The test split of the index, the head, the report and the exported model; beside the head
    /// alone, FineTune's model when a current one is in the workspace (see <see cref="FineTunedChoice"/>).</summary>
    public static EvaluationOutcome Run(PipelineConfig config, IndexDb db, CancellationToken ct = default)
    {
        var extract = ExtractReport.Read(config);
        var dataset = new DatasetIdentity(config.Dataset.Root, "index hash", db.Meta("index_hash") ?? "not recorded (run Ingest)");
        var choice = FineTunedChoice.For(config, extract.Fingerprint, HeadArtifact.Load(ArtifactPaths.Head(config), extract.Fingerprint));
        var fineTuned = new FineTunedEvaluation(choice.InUse, choice.Note, test => EmbedTest(config, choice.InUse!, test, ct));
        return EvaluationRun.Execute(config, extract.Fingerprint, extract.InputsHash, dataset,
            headLabels =>
            {
                var test = new SplitVectors(config, db, extract.Fingerprint).Test(headLabels);
                if (test.Count == 0 && config.Evaluate.Export)
                    throw new InputException(FormattableString.Invariant(
                        $"the test split of {db.Path} has no usable image (dataset.test_percent is {config.Dataset.TestPercent}), so the exported model cannot be checked. ") +
                        $"Raise dataset.test_percent or add images, or set 'evaluate.export: false' in {config.SourcePath}, then run make again.");
                // The export check needs every test image as it was embedded: checked before model.onnx
                // is replaced, so a missing one stops the run with the old model in place.
                if (config.Evaluate.Export)
                    for (var i = 0; i < test.Count; i++)
                    {
                        ct.ThrowIfCancellationRequested();
                        ReadTestImage(Path.Join(config.Dataset.Root, test.RelativePaths[i]), test.ContentIds[i]);
                    }
                return test;
            },
            () => ExportInputsFor(config, db, extract.Fingerprint, choice.InUse?.Spec, ct), ct, fineTuned);
    }

    /// <summary>
    /// The test images' vectors through the fine-tuned backbone, by the same embedding code and cache
    /// as --data and predict: stored under its fingerprint, so a rerun embeds none of them again.
    /// </summary>
    private static LabelledVectors EmbedTest(PipelineConfig config, FineTunedInUse fineTuned, LabelledVectors test, CancellationToken ct)
    {
        var paths = test.RelativePaths.Select(rel => Path.Join(config.Dataset.Root, rel)).ToArray();
        var embedded = ImageEmbedder.Embed(fineTuned.Spec, config, paths, ct);
        var rows = new List<float[]>(embedded.Count);
        for (var i = 0; i < embedded.Count; i++)
        {
            var e = embedded[i];
            if (e.ContentId is not null && e.ContentId != test.ContentIds[i])
                throw new InputException($"test image {paths[i]} changed after Extract; the head alone and the fine-tuned model must score the same image. {Rerun}.");
            rows.Add(e.Vector ?? throw new InputException($"test image {paths[i]} cannot be embedded by the fine-tuned backbone ({e.Error}), although Extract embedded it. {Rerun}."));
        }
        return new LabelledVectors(rows, test.Labels, test.LabelNames, test.ContentIds, test.RelativePaths, fineTuned.Head.Dimension);
    }

    /// <summary>
    /// Scores a folder of class subfolders named like the head's labels; writes the report JSON to
    /// outJson and its page beside it (scored.json, scored.html).
    /// </summary>
    public static (EvaluationReport Report, IReadOnlyList<string> Skipped, ScoringModel Model) ScoreFolder(PipelineConfig config, IndexDb db, string dataDir, string outJson, CancellationToken ct = default)
    {
        if (string.Equals(Path.GetExtension(outJson), ".html", StringComparison.OrdinalIgnoreCase))
            throw new ConfigException($"--out {outJson}: name the JSON report (like scored.json); its page is written beside it as .html.");
        var outPage = EvaluationPage.PathBeside(outJson);
        EvaluationPage.EnsureOursOrAbsent(outPage);
        var model = LoadModel(config, db);
        var (spec, artifact, headPath, _, _) = model;
        dataDir = Path.GetFullPath(dataDir);
        var scan = DatasetScanner.Scan(dataDir);
        LabelCheck.EnsureKnown(scan.Files.Select(f => f.Class), artifact.LabelNames, dataDir, headPath);
        var embedded = ImageEmbedder.Embed(spec, config, [.. scan.Files.Select(f => Path.Join(dataDir, f.RelPath))], ct);
        var labelIds = LabelIndex.Of(artifact.LabelNames);
        var rows = new List<float[]>();
        var labels = new List<int>();
        var ids = new List<string>();
        var paths = new List<string>();
        var skipped = new List<string>(scan.Rejects.Select(r => $"{r.RelPath}: {r.Reason}"));
        for (var i = 0; i < embedded.Count; i++)
        {
            var e = embedded[i];
            if (e.Vector is null) { skipped.Add($"{scan.Files[i].RelPath}: {e.Error}"); continue; }
            rows.Add(e.Vector);
            labels.Add(labelIds[scan.Files[i].Class]);
            ids.Add(e.ContentId!);
            paths.Add(scan.Files[i].RelPath);
        }
        if (rows.Count == 0) throw new InputException($"{dataDir} holds no image that could be embedded ({skipped.Count} skipped). It must hold class subfolders of images.");
        // The head's dimension, not the spec's: a custom backbone's may be unknown (0) until a session runs.
        var set = new LabelledVectors(rows, [.. labels], artifact.LabelNames, [.. ids], [.. paths], artifact.Dimension);
        var (report, _) = HeadEvaluation.Evaluate(artifact, headPath, set, config.Evaluate.TopK);
        var dataset = new DatasetIdentity(dataDir, "content hash", ContentHash(ids));
        EvaluationPage.Write(outPage, report, PageSources.For(config, dataDir, dataset));
        AtomicFile.WriteAllText(outJson, report.ToJson());
        return (report, skipped, model);
    }

    /// <summary>A hash of which images were scored (their sorted content ids), whatever their names or order.</summary>
    private static string ContentHash(IEnumerable<string> contentIds) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(
            string.Join('\n', contentIds.Order(StringComparer.Ordinal)))))[..16];

    /// <summary>Classifies image files and folders (searched recursively); writes top-k CSV rows.</summary>
    public static (int Classified, IReadOnlyList<string> Skipped, ScoringModel Model) Predict(PipelineConfig config, IndexDb db, IReadOnlyList<string> inputs, string outCsv, int topK, CancellationToken ct = default)
    {
        var model = LoadModel(config, db);
        var (spec, artifact, _, _, _) = model;
        var files = new List<string>();
        foreach (var input in inputs)
        {
            var full = Path.GetFullPath(input);
            if (File.Exists(full)) files.Add(full);
            else if (Directory.Exists(full))
                files.AddRange(Directory.EnumerateFiles(full, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.Hidden })
                    .Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal));
            else throw new InputException($"{full} is neither an image file nor a folder.");
        }
        var embedded = ImageEmbedder.Embed(spec, config, files, ct);
        var paths = new List<string>();
        var probabilities = new List<float[]>();
        var skipped = new List<string>();
        var head = artifact.Head;
        foreach (var e in embedded)
        {
            if (e.Vector is null) { skipped.Add($"{e.Path}: {e.Error}"); continue; }
            paths.Add(e.Path);
            probabilities.Add(head.Probabilities(e.Vector));
        }
        PredictionWriter.Write(outCsv, paths, probabilities, artifact.LabelNames, Math.Min(topK, artifact.LabelNames.Length));
        return (paths.Count, skipped, model);
    }

    /// <summary>The model --data and predict classify with: FineTune's when a current one is in the
    /// workspace, else the current backbone (its int8 copy where configured, which Extract built) and
    /// the head (refusing a head trained on another backbone).</summary>
    public static ScoringModel LoadModel(PipelineConfig config, IndexDb db)
    {
        var spec = QuantizedBackbone.Resolve(config, db, build: false);
        var headPath = ArtifactPaths.Head(config);
        if (!File.Exists(headPath)) throw new InputException($"no head at {headPath}. Run TrainHead first (make train-head).");
        var head = HeadArtifact.Load(headPath, spec.Fingerprint);
        var choice = FineTunedChoice.For(config, spec.Fingerprint, head);
        return choice.InUse is { } f
            ? new ScoringModel(f.Spec, f.Head, f.HeadPath, f.Name, null)
            : new ScoringModel(spec, head, headPath, "head only", choice.Note);
    }

    /// <summary>The network Extract embedded with (the int8 copy when it was used), or the fine-tuned
    /// backbone instead (same input and preprocessing), so the exported model is the one scored.</summary>
    private static ExportInputs ExportInputsFor(PipelineConfig config, IndexDb db, string fingerprint, BackboneSpec? fineTuned, CancellationToken ct)
    {
        var original = QuantizedBackbone.Resolve(config, db, build: false);
        if (original.Fingerprint != fingerprint)
            throw new InputException($"the backbone in {config.SourcePath} (fingerprint {original.Fingerprint}) is not the one Extract used ({fingerprint}). Run Extract again (make extract).");
        var spec = fineTuned ?? original;
        var preprocessing = ExportPreprocessing.From(spec.Preprocessing, spec.InputSize, spec.Layout);
        return new ExportInputs(File.ReadAllBytes(spec.ModelPath), spec.BottleneckTensor, preprocessing,
            test => [.. test.RelativePaths.Select((rel, i) =>
            {
                ct.ThrowIfCancellationRequested();
                return RawPixels(spec, config, Path.Join(config.Dataset.Root, rel), test.ContentIds[i]);
            })]);
    }

    private const string Rerun = "Run make again: Ingest and Extract bring the index up to date, then Evaluate re-runs";

    /// <summary>A test image's bytes, which must still be those Extract embedded: the export check
    /// compares the exported model on them with the cached vectors, so other bytes would compare two images.</summary>
    private static byte[] ReadTestImage(string path, string contentId)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new InputException($"test image {path} was deleted or moved after Extract; Evaluate needs its pixels to check the exported model. {Rerun}.", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"cannot read test image {path} ({e.Message}); Evaluate needs its pixels to check the exported model. Check the file and its permissions, then run again.", e);
        }
        if (!string.Equals(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)), contentId, StringComparison.Ordinal))
            throw new InputException($"test image {path} changed after Extract; the export check must see the image that was embedded. {Rerun}.");
        return bytes;
    }

    /// <summary>An image as the exported model takes it: decoded and resized exactly as Extract does, RGB 0..255, CHW.</summary>
    private static float[] RawPixels(BackboneSpec spec, PipelineConfig config, string path, string contentId)
    {
        var bytes = ReadTestImage(path, contentId);
        Image<Rgb24> decoded;
        try { decoded = InputDecoder.Decode(bytes, config.Dataset.MaxPixels, spec.InputSize, spec.Resize, spec.Decode); }
        catch (ImageRejectedException e)
        {
            throw new InputException($"test image {path} cannot be decoded ({e.Message}), although Extract embedded it. {Rerun}.", e);
        }
        using var image = decoded;
        var pixels = new float[spec.ValuesPerImage];
        TensorWriter.Write(image, Identity, TensorLayout.Nchw, pixels);
        return pixels;
    }

    private static readonly Preprocessing Identity = new()
    {
        Preset = NormalizationPreset.Custom,
        SourceChannel = [0, 1, 2],
        Scale = [1f, 1f, 1f],
        Offset = [0f, 0f, 0f],
    };

    public static string Describe(EvaluationReport r) => string.Create(CultureInfo.InvariantCulture,
        $"accuracy {100 * r.TestAccuracy:0.0}% on {r.TestImages} images, top-{r.TopK} {100 * r.TopKAccuracy:0.0}%, macro F1 {r.MacroF1:0.000}");
}
