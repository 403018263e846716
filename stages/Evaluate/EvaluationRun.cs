using System.Globalization;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.Head;
using BottleneckPipeline.Imaging;
using BottleneckPipeline.TunedNetwork;

namespace BottleneckPipeline.Evaluate;

/// <summary>What export needs from the backbone side: the model, where its bottleneck is, its preprocessing, and raw test pixels.</summary>
/// <param name="LoadPixels">CHW RGB 0..255 tensors at the input size for the given test rows (same resize as Extract).</param>
public sealed record ExportInputs(byte[] BackboneModel, string BottleneckTensor, ExportPreprocessing Preprocessing, Func<LabelledVectors, IReadOnlyList<float[]>> LoadPixels);

/// <summary>What <see cref="EvaluationRun.Execute"/> did; Summary is the stage's one-line output.</summary>
/// <param name="Note">why a fine-tuned model in the workspace was not used; null otherwise.</param>
public sealed record EvaluationOutcome(bool UpToDate, EvaluationReport? Report, string Summary, string? Note = null);

/// <summary>FineTune's side of an evaluation: the model to score beside the head alone (or why none is), and how
/// to get the test images' vectors from its backbone.</summary>
/// <param name="Embed">the test images' vectors through the fine-tuned backbone, in the same rows and labels as the given head-only set.</param>
public sealed record FineTunedEvaluation(FineTunedInUse? InUse, string? Note, Func<LabelledVectors, LabelledVectors> Embed);

/// <summary>
/// The Evaluate stage body: load the head (refusing one from another backbone), measure it on the
/// test vectors, export backbone + head as one ONNX and check it, write the reports. Returns at once
/// when the recorded inputs hash matches and the outputs exist.
/// </summary>
public static class EvaluationRun
{

    public static string InputsHash(string evaluateSectionHash, string headInputsHash, string upstreamHash) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(
            $"evaluate={evaluateSectionHash}\nhead={headInputsHash}\nupstream={upstreamHash}")));

    /// <param name="backboneFingerprint">the current cache/backbone's fingerprint; a head trained on another is refused.</param>
    /// <param name="upstreamHash">a hash of the cache and split state the test vectors come from.</param>
    /// <param name="dataset">the test images' folder and index hash, for the page's provenance.</param>
    /// <param name="loadTest">reads the test vectors, labelled with the given (head's) label names in that order.</param>
    /// <param name="export">gives the export inputs when evaluate.export is on; only called when there is work to do.</param>
    /// <param name="ct">Checked between the steps and by the export check; the reports are written last, so a stop writes none.</param>
    /// <param name="fineTuned">FineTune's model, scored beside the head alone and exported instead of it when in use;
    /// <paramref name="export"/> must then give the fine-tuned backbone.</param>
    public static EvaluationOutcome Execute(PipelineConfig config, string backboneFingerprint, string upstreamHash, DatasetIdentity dataset,
        Func<string[], LabelledVectors> loadTest, Func<ExportInputs>? export, CancellationToken ct = default, FineTunedEvaluation? fineTuned = null)
    {
        var headPath = ArtifactPaths.Head(config);
        var artifact = HeadArtifact.Load(headPath, backboneFingerprint);
        var sectionHash = config.SectionHashes.TryGetValue("evaluate", out var h) ? h : "none";
        var inUse = fineTuned?.InUse;
        var note = fineTuned?.Note;
        // Adding, replacing or removing the fine-tuned model changes what is reported and exported, and so
        // does a note on an ignored one appearing or going.
        if (inUse is not null) upstreamHash += $"\nfine_tuned={inUse.Model.InputsHash}:{inUse.Spec.Fingerprint}:{inUse.Head.InputsHash}";
        if (note is not null) upstreamHash += $"\nfine_tune_note={note}";
        var hash = InputsHash(sectionHash, artifact.InputsHash, upstreamHash);
        var jsonPath = Path.Combine(config.ReportsDir, EvaluationWriter.JsonName);
        if (IsUpToDate(jsonPath, hash, config.Evaluate.Export ? ArtifactPaths.Model(config) : null) is { } previous)
            return new EvaluationOutcome(true, previous, Summary(previous) + " (up to date)", note);

        var test = loadTest(artifact.LabelNames);
        var (report, probabilities) = HeadEvaluation.Evaluate(artifact, headPath, test, config.Evaluate.TopK);
        // What model.onnx is exported from and checked against: the fine-tuned model when in use.
        var (exportedHead, exportedProbabilities) = (artifact, probabilities);
        if (inUse is not null)
        {
            ct.ThrowIfCancellationRequested();
            var (fineTunedReport, fineTunedProbabilities) = HeadEvaluation.Evaluate(inUse.Head, inUse.HeadPath, fineTuned!.Embed(test), config.Evaluate.TopK);
            report.FineTuned = new FineTunedReport(inUse.Name, inUse.Model.Trainable, inUse.Model.EpochsRun, inUse.Model.ValidationAccuracy,
                inUse.Spec.Fingerprint, ArtifactPaths.TunedManifest(config), fineTunedReport);
            (exportedHead, exportedProbabilities) = (inUse.Head, fineTunedProbabilities);
        }
        report.FineTuneNote = note;
        if (config.Evaluate.Export)
        {
            if (export is null) throw new ArgumentNullException(nameof(export), "evaluate.export is on: export inputs are needed");
            var inputs = export();
            ct.ThrowIfCancellationRequested();
            var modelPath = ArtifactPaths.Model(config);
            var name = inUse is null ? exportedHead.BackboneName : $"{exportedHead.BackboneName} {inUse.Name}";
            HeadExporter.ExportToFile(modelPath, inputs.BackboneModel, inputs.BottleneckTensor, inputs.Preprocessing, exportedHead.Head,
                new ExportProvenance(name, exportedHead.BackboneFingerprint, exportedHead.InputsHash));
            ct.ThrowIfCancellationRequested();
            report.Export = ExportChecker.Check(modelPath, inputs.LoadPixels(test), exportedProbabilities, ct: ct) with { Network = inUse?.Name ?? "head only" };
        }
        ct.ThrowIfCancellationRequested();
        report.InputsHash = hash;
        var page = PageSources.For(config, "test split", dataset);
        if (report.FineTuned is { } f) page = page with { FineTuned = new ComparedResult(f.Name, f.Report, null) };
        EvaluationWriter.Write(config.ReportsDir, report, page);

        return new EvaluationOutcome(false, report, Summary(report), note);
    }

    /// <summary>The stage's closing line: the test accuracy first (head only and fine-tuned side by side), since that is what a user runs it for.</summary>
    private static string Summary(EvaluationReport report)
    {
        if (report.TestImages == 0) return "Evaluate: the test split is empty (dataset.test_percent, or too few images): nothing to evaluate";
        var summary = report.FineTuned is { Report: var f } fineTuned
            ? string.Create(CultureInfo.InvariantCulture,
                $"Evaluate: test accuracy {100 * report.TestAccuracy:0.0}% head only, {100 * f.TestAccuracy:0.0}% {fineTuned.Name} on {report.TestImages} images, top-{report.TopK} {100 * report.TopKAccuracy:0.0}% / {100 * f.TopKAccuracy:0.0}%")
            : string.Create(CultureInfo.InvariantCulture,
                $"Evaluate: test accuracy {100 * report.TestAccuracy:0.0}% on {report.TestImages} images, top-{report.TopK} {100 * report.TopKAccuracy:0.0}%");
        if (report.Export is { } e)
            summary += string.Create(CultureInfo.InvariantCulture,
                $"; export{(report.FineTuned is null ? "" : $" ({e.Network})")} {(e.Passed ? "agrees" : "DISAGREES")} ({100 * e.ArgmaxAgreement:0.0}%, max diff {e.MaxAbsProbabilityDifference:0.#e+0})");
        return summary;
    }

    /// <summary>The previous report when it was made from these very inputs and all outputs exist.</summary>
    private static EvaluationReport? IsUpToDate(string jsonPath, string hash, string? modelPath)
    {
        if (!File.Exists(jsonPath) || (modelPath is not null && !File.Exists(modelPath))) return null;
        var dir = Path.GetDirectoryName(jsonPath)!;
        if (!new[] { EvaluationWriter.MarkdownName, EvaluationWriter.ConfusionPngName, EvaluationPage.FileName }.All(name => File.Exists(Path.Combine(dir, name)))) return null;
        try
        {
            var previous = EvaluationReport.FromJson(File.ReadAllText(jsonPath));
            return previous.InputsHash == hash ? previous : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }
}
