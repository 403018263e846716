using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Embedding;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.Head;
using BottleneckPipeline.Imaging;
using BottleneckPipeline.Index;
using BottleneckPipeline.Quantization;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Evaluate;

/// <summary>
/// The Evaluate stage on the workspace: the head alone and, when there is one, FineTune's network,
/// weighed on the validation split; the shipped one reported on the test split and exported as
/// model.onnx (see <see cref="EvaluationRun"/>). Its vectors come from the cache; the fine-tuned
/// network's are embedded through its backbone by the same code, into the cache under its own
/// fingerprint, so a rerun embeds none of them again.
/// </summary>
internal static class EvaluateStage
{
    public static readonly string[] Sections = ["evaluate"];

    /// <param name="considerFineTuned">make fine-tune's request: weigh FineTune's network whatever fine_tune.enabled says.</param>
    public static EvaluationOutcome Run(PipelineConfig config, IndexDb db, bool considerFineTuned = false, CancellationToken ct = default)
    {
        var extract = ExtractReport.Read(config);
        var dataset = new DatasetIdentity(config.Dataset.Root, "index hash", db.Meta("index_hash") ?? "not recorded (run Ingest)");
        var lookup = TunedNetworkLookup.ForRun(config, extract.Fingerprint, HeadArtifact.Load(ArtifactPaths.Head(config), extract.Fingerprint),
            considerFineTuned);
        var tuned = new TunedNetworkEvaluation(lookup.InUse, lookup.Note, rows => EmbedThroughTuned(config, lookup.InUse!, rows, ct));
        // The images dataset.exclude leaves out are scored by no one, and the data doctor's findings go into every report:
        // a new list, or a new dataset_issues.json, makes the reports out of date.
        var excluded = ExcludedImages.Of(config, db);
        var doctor = Doctor(config, db, extract, excluded);
        var upstream = extract.InputsHash + excluded.HashLine + (doctor is null ? "" : $"\ndataset_issues={doctor.Issues.InputsHash}:{doctor.Current}");
        return EvaluationRun.Execute(config, extract.Fingerprint, upstream, dataset,
            (split, headLabels) => LoadSplit(config, db, extract.Fingerprint, excluded, split, headLabels, ct),
            tunedShips => ExportInputsFor(config, db, extract.Fingerprint, tunedShips ? lookup.InUse!.Spec : null, ct), ct, tuned, doctor);
    }

    /// <summary>The Audit stage's reports/dataset_issues.json with the content id of every image it names; null when there is none.</summary>
    private static DoctorSource? Doctor(PipelineConfig config, IndexDb db, ExtractSummary extract, ExcludedImages excluded)
    {
        var path = ArtifactPaths.DatasetIssues(config);
        if (DatasetIssues.TryRead(path) is not { } issues) return null;
        var current = issues.InputsHash == DatasetIssues.InputsHashFor(config, extract, excluded.Hash);
        var paths = issues.LabelIssues.Select(i => i.Path).Concat(issues.NearDuplicates.SelectMany(d => new[] { d.A, d.B }))
            .Concat(issues.Outliers.Select(o => o.Path)).ToHashSet(StringComparer.Ordinal);
        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        using var cmd = db.Command("SELECT rel_path, content_id FROM examples;");
        using var r = cmd.ExecuteReader();
        while (r.Read())
            if (paths.Contains(r.GetString(0))) ids.TryAdd(r.GetString(0), r.GetString(1));
        return new DoctorSource(issues, path, current, ids);
    }

    private static LabelledVectors LoadSplit(PipelineConfig config, IndexDb db, string fingerprint, ExcludedImages excluded, string split, string[] headLabels,
        CancellationToken ct)
    {
        var set = new SplitVectors(config, db, fingerprint) { Excluded = excluded }.Load([split], headLabels)[0];
        if (split != "test") return set;
        if (set.Count == 0 && config.Evaluate.Export)
            throw new InputException(FormattableString.Invariant(
                $"the test split of {db.Path} has no usable image (dataset.test_percent is {config.Dataset.TestPercent}), ") +
                "so the exported model cannot be checked. " +
                $"Raise dataset.test_percent or add images, or set 'evaluate.export: false' in {config.SourcePath}, then run make again.");
        // The export check needs every test image as it was embedded: checked before model.onnx is
        // replaced, so a missing one stops the run with the old model in place.
        if (config.Evaluate.Export)
            for (var i = 0; i < set.Count; i++)
            {
                ct.ThrowIfCancellationRequested();
                ReadEmbeddedImage(Path.Join(config.Dataset.Root, set.RelativePaths[i]), set.ContentIds[i]);
            }
        return set;
    }

    /// <summary>Rows' vectors through the fine-tuned backbone, by the same embedding code and cache as Extract's.</summary>
    private static LabelledVectors EmbedThroughTuned(PipelineConfig config, TunedNetworkCandidate tuned, LabelledVectors set, CancellationToken ct)
    {
        var paths = set.RelativePaths.Select(rel => Path.Join(config.Dataset.Root, rel)).ToArray();
        var embedded = ImageEmbedder.Embed(tuned.Spec, config, paths, ct);
        var rows = new List<float[]>(embedded.Count);
        for (var i = 0; i < embedded.Count; i++)
        {
            var e = embedded[i];
            if (e.ContentId is not null && e.ContentId != set.ContentIds[i])
                throw new InputException($"image {paths[i]} changed after Extract; " +
                                         $"the head alone and the fine-tuned network must score the same image. {Rerun}.");
            rows.Add(e.Vector ?? throw new InputException(
                $"image {paths[i]} cannot be embedded by the fine-tuned backbone ({e.Error}), although Extract embedded it. {Rerun}."));
        }
        return new LabelledVectors(rows, set.Labels, set.LabelNames, set.ContentIds, set.RelativePaths, tuned.Head.Dimension);
    }

    /// <summary>The network Extract embedded with (the int8 copy when it was used), or the fine-tuned backbone instead
    /// (same input and preprocessing), so the exported model is the one that ships.</summary>
    private static ExportInputs ExportInputsFor(PipelineConfig config, IndexDb db, string fingerprint, BackboneSpec? tuned, CancellationToken ct)
    {
        var original = QuantizedBackbone.Resolve(config, db, build: false);
        if (original.Fingerprint != fingerprint)
            throw new InputException($"the backbone in {config.SourcePath} (fingerprint {original.Fingerprint}) is not the one Extract used " +
                                     $"({fingerprint}). Run Extract again (make extract).");
        var spec = tuned ?? original;
        var preprocessing = ExportPreprocessing.From(spec.Preprocessing, spec.InputSize, spec.Layout)
            with
        { Resize = spec.Resize, LibvipsMinPixels = spec.Decode.LibvipsMinPixels };
        return new ExportInputs(File.ReadAllBytes(spec.ModelPath), spec.BottleneckTensor, preprocessing,
            test => [.. test.RelativePaths.Select((rel, i) =>
            {
                ct.ThrowIfCancellationRequested();
                var path = Path.Join(config.Dataset.Root, rel);
                var bytes = ReadEmbeddedImage(path, test.ContentIds[i]);
                try { return ExportedModel.Pixels(bytes, spec.InputSize, spec.Resize, spec.Decode, config.Dataset.MaxPixels); }
                catch (ImageRejectedException e)
                {
                    throw new InputException($"test image {path} cannot be decoded ({e.Message}), although Extract embedded it. {Rerun}.", e);
                }
            })]);
    }

    private const string Rerun = "Run make again: Ingest and Extract bring the index up to date, then Evaluate re-runs";

    /// <summary>An image's bytes, which must still be those Extract embedded: the export check compares the exported
    /// model on them with the cached vectors, so other bytes would compare two images.</summary>
    private static byte[] ReadEmbeddedImage(string path, string contentId)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new InputException($"test image {path} was deleted or moved after Extract; " +
                                     $"Evaluate needs its pixels to check the exported model. {Rerun}.", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"cannot read test image {path} ({e.Message}); Evaluate needs its pixels to check the exported model. " +
                                     "Check the file and its permissions, then run again.", e);
        }
        if (!string.Equals(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)), contentId, StringComparison.Ordinal))
            throw new InputException($"test image {path} changed after Extract; the export check must see the image that was embedded. {Rerun}.");
        return bytes;
    }
}
