using System.Globalization;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.Head;
using BottleneckPipeline.Imaging;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Embedding;

namespace BottleneckPipeline.Evaluate;

/// <summary>
/// The Evaluate stage and its two other uses: scoring another labelled folder (--data) and
/// classifying unlabelled images (predict). All three go through the same cache and backbone.
/// </summary>
public static class EvaluateStage
{
    public static readonly string[] Sections = ["evaluate"];

    /// <summary>The test split of the index, the head, the report and the exported model.</summary>
    public static EvaluationOutcome Run(PipelineConfig config, IndexDb db)
    {
        var extract = ExtractReport.Read(config);
        return EvaluationRun.Execute(config, extract.Fingerprint, extract.InputsHash,
            headLabels => SplitVectors.Load(db, config.CacheDir, extract.Fingerprint, "test", headLabels, config.Dataset.IncludeConflicts),
            () => ExportInputsFor(config, extract.Fingerprint));
    }

    /// <summary>Scores a folder of class subfolders named like the head's labels; writes the report JSON to outJson.</summary>
    public static (EvaluationReport Report, IReadOnlyList<string> Skipped) ScoreFolder(PipelineConfig config, string dataDir, string outJson)
    {
        var (spec, artifact, headPath) = LoadHead(config);
        dataDir = Path.GetFullPath(dataDir);
        var scan = DatasetScanner.Scan(dataDir);
        LabelCheck.EnsureKnown(scan.Files.Select(f => f.Class), artifact.LabelNames, dataDir, headPath);
        var embedded = ImageEmbedder.Embed(spec, config, [.. scan.Files.Select(f => Path.Join(dataDir, f.RelPath))]);
        var labelIds = artifact.LabelNames.Select((n, i) => (n, i)).ToDictionary(x => x.n, x => x.i, StringComparer.Ordinal);
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
        var set = new LabelledVectors(rows, [.. labels], artifact.LabelNames, [.. ids], [.. paths], spec.Dimension);
        var (report, _) = HeadEvaluation.Evaluate(artifact, headPath, set, config.Evaluate.TopK);
        AtomicFile.WriteAllText(outJson, report.ToJson());
        return (report, skipped);
    }

    /// <summary>Classifies image files and folders (searched recursively); writes top-k CSV rows.</summary>
    public static (int Classified, IReadOnlyList<string> Skipped) Predict(PipelineConfig config, IReadOnlyList<string> inputs, string outCsv, int topK)
    {
        var (spec, artifact, _) = LoadHead(config);
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
        var embedded = ImageEmbedder.Embed(spec, config, files);
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
        return (paths.Count, skipped);
    }

    /// <summary>The current backbone and the head, refusing a head trained on another backbone.</summary>
    private static (BackboneSpec Spec, HeadArtifact Artifact, string HeadPath) LoadHead(PipelineConfig config)
    {
        var spec = BackboneFactory.Resolve(config);
        var headPath = HeadArtifact.PathIn(config);
        if (!File.Exists(headPath)) throw new InputException($"no head at {headPath}. Run TrainHead first (make train-head).");
        return (spec, HeadArtifact.Load(headPath, spec.Fingerprint), headPath);
    }

    private static ExportInputs ExportInputsFor(PipelineConfig config, string fingerprint)
    {
        var spec = BackboneFactory.Resolve(config);
        if (spec.Fingerprint != fingerprint)
            throw new InputException($"the backbone in {config.SourcePath} (fingerprint {spec.Fingerprint}) is not the one Extract used ({fingerprint}). Run Extract again (make extract).");
        var preprocessing = ExportPreprocessing.From(spec.Preprocessing, spec.InputSize, spec.Layout);
        return new ExportInputs(File.ReadAllBytes(spec.ModelPath), spec.BottleneckTensor, preprocessing,
            test => [.. test.RelativePaths.Select(rel => RawPixels(spec, config, Path.Join(config.Dataset.Root, rel)))]);
    }

    /// <summary>An image as the exported model takes it: decoded and resized exactly as Extract does,
    /// RGB 0..255, CHW.</summary>
    private static float[] RawPixels(BackboneSpec spec, PipelineConfig config, string path)
    {
        using var image = ImageLoader.Decode(File.ReadAllBytes(path), config.Dataset.MaxPixels);
        TensorWriter.Resize(image, spec.InputSize, spec.Resize);
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
