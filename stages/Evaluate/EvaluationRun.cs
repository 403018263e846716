using System.Globalization;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Confidence;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.Head;
using BottleneckPipeline.Metrics;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Evaluate;

/// <summary>What export needs from the backbone side: the model, where its bottleneck is, its preprocessing, and raw test pixels.</summary>
/// <param name="LoadPixels">CHW RGB 0..255 tensors at the input size for the given test rows (same resize as Extract).</param>
internal sealed record ExportInputs(
    byte[] BackboneModel, string BottleneckTensor, ExportPreprocessing Preprocessing, Func<LabelledVectors, IReadOnlyList<float[]>> LoadPixels);

/// <summary>What <see cref="EvaluationRun.Execute"/> did; Summary is the stage's one-line output.</summary>
/// <param name="Note">why a fine-tuned network in the workspace was not considered; null otherwise.</param>
internal sealed record EvaluationOutcome(bool UpToDate, EvaluationReport? Report, string Summary, string? Note = null);

/// <summary>FineTune's side of an evaluation: the network to weigh against the head alone (or why there is none), and
/// how to get a split's vectors through its backbone.</summary>
/// <param name="Embed">the given rows' vectors through the fine-tuned backbone, in the same order and labels.</param>
internal sealed record TunedNetworkEvaluation(TunedNetworkCandidate? InUse, string? Note, Func<LabelledVectors, LabelledVectors> Embed);

/// <summary>
/// The Evaluate stage body: score the head alone and, when there is one, the fine-tuned network on the
/// validation split, ship the one the rule chooses (<see cref="ShippedModel"/>), report it on the
/// test split with the other beside it, export it as model.onnx and check the export against it.
/// Returns at once when the recorded inputs hash matches and every output exists.
/// </summary>
internal static class EvaluationRun
{
    public static string InputsHash(string evaluateSectionHash, string headInputsHash, string upstreamHash) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(
            $"evaluate={evaluateSectionHash}\nhead={headInputsHash}\nupstream={upstreamHash}")));

    /// <param name="backboneFingerprint">the current cache/backbone's fingerprint; a head trained on another is refused.</param>
    /// <param name="upstreamHash">a hash of the cache and split state the vectors come from.</param>
    /// <param name="dataset">the images' folder and index hash, for the page's provenance.</param>
    /// <param name="loadSplit">reads a split's vectors ("validation" or "test"), labelled with the given (head's) label names in that order.</param>
    /// <param name="export">gives the export inputs of the shipped model (true: the fine-tuned network); only called when there is work to do.</param>
    /// <param name="ct">Checked between the steps and by the export check; the reports are written last, so a stop writes none.</param>
    /// <param name="fineTuned">FineTune's network, weighed against the head alone on validation.</param>
    /// <param name="doctor">the data doctor's findings (reports/dataset_issues.json), for the reports; null when Audit wrote none.</param>
    public static EvaluationOutcome Execute(PipelineConfig config, string backboneFingerprint, string upstreamHash, DatasetIdentity dataset,
        Func<string, string[], LabelledVectors> loadSplit, Func<bool, ExportInputs>? export, CancellationToken ct = default,
        TunedNetworkEvaluation? fineTuned = null, DoctorSource? doctor = null)
    {
        var headPath = ArtifactPaths.Head(config);
        var artifact = HeadArtifact.Load(headPath, backboneFingerprint);
        var sectionHash = config.SectionHashes.TryGetValue("evaluate", out var h) ? h : "none";
        var inUse = fineTuned?.InUse;
        var note = fineTuned?.Note;
        // Adding, replacing or removing the fine-tuned network changes what is weighed and shipped, and so
        // does a note on an ignored one appearing or going.
        if (inUse is not null) upstreamHash += $"\nfine_tuned={inUse.Model.InputsHash}:{inUse.Spec.Fingerprint}:{inUse.Head.InputsHash}";
        if (note is not null) upstreamHash += $"\nfine_tune_note={note}";
        var hash = InputsHash(sectionHash, artifact.InputsHash, upstreamHash);
        if (IsUpToDate(config, hash) is { } previous)
            return new EvaluationOutcome(true, previous, Summary(previous) + " (up to date)", note);

        var validation = loadSplit("validation", artifact.LabelNames);
        var headScore = HeadEvaluation.Score(artifact, validation, ShippedModel.HeadOnly);
        LabelledVectors? tunedValidation = null;
        if (inUse is not null)
        {
            ct.ThrowIfCancellationRequested();
            tunedValidation = fineTuned!.Embed(validation);
        }
        var tunedScore = inUse is null ? null : HeadEvaluation.Score(inUse.Head, tunedValidation!, inUse.Name);
        var shipped = ShippedModel.Choose(headScore, tunedScore, config.Evaluate.Ship);
        var tunedShips = inUse is not null && shipped.Model == inUse.Name;

        // The shipped model's temperature, fitted on its own validation scores, is part of what ships: its test report is calibrated.
        var (shippedRaw, shippedValidation) = tunedShips ? (inUse!.Head, tunedValidation!) : (artifact, validation);
        var temperature = ShippedConfidence.FitTemperature(shippedRaw, shippedValidation);
        var shippedHead = ShippedConfidence.WithTemperature(shippedRaw, temperature);

        ct.ThrowIfCancellationRequested();
        var test = loadSplit("test", artifact.LabelNames);
        var tunedTest = inUse is null ? null : fineTuned!.Embed(test);
        var shippedTest = tunedShips ? tunedTest! : test;
        var (report, probabilities) = HeadEvaluation.Evaluate(shippedHead, tunedShips ? inUse!.HeadPath : headPath, shippedTest, config.Evaluate.TopK,
            "test split", shipped.Model);
        if (inUse is not null)
            report.Comparison = tunedShips
                ? HeadEvaluation.Evaluate(artifact, headPath, test, config.Evaluate.TopK, "test split", ShippedModel.HeadOnly).Report
                : HeadEvaluation.Evaluate(inUse.Head, inUse.HeadPath, tunedTest!, config.Evaluate.TopK, "test split", inUse.Name).Report;
        report.Shipped = shipped;
        report.FineTuneNote = note;
        var shippedScore = tunedShips ? tunedScore! : headScore;
        report.Warnings =
            [.. new[] { ChanceCheck.Warning(shipped.Model, shippedScore.Accuracy, ClassCounts(validation), artifact.LabelNames) }.OfType<string>()];
        report.Temperature = temperature;
        report.Reliability = ShippedConfidence.Calibration(shippedRaw, temperature, shippedTest);
        report.EceBefore = Calibration.ExpectedCalibrationError(report.Reliability.Before);
        report.EceAfter = Calibration.ExpectedCalibrationError(report.Reliability.After);

        // The unknown rule on the shipped model's own vectors: its training split's, through the fine-tuned backbone if that ships.
        ct.ThrowIfCancellationRequested();
        var train = loadSplit("train", artifact.LabelNames);
        var unknown = ShippedConfidence.FitUnknown(tunedShips ? fineTuned!.Embed(train) : train, shippedValidation);
        report.Unknown = ShippedConfidence.Report(unknown, shippedTest);

        if (config.Evaluate.Export)
        {
            if (export is null) throw new ArgumentNullException(nameof(export), "evaluate.export is on: export inputs are needed");
            var inputs = export(tunedShips);
            ct.ThrowIfCancellationRequested();
            var modelPath = ArtifactPaths.Model(config);
            var name = tunedShips ? $"{inUse!.Head.BackboneName} {inUse.Name}" : artifact.BackboneName;
            var modelSha256 = HeadExporter.ExportToFile(modelPath, inputs.BackboneModel, inputs.BottleneckTensor, inputs.Preprocessing, shippedHead.Head,
                new ExportProvenance(name, shippedHead.BackboneFingerprint, shippedHead.InputsHash), new ExportConfidence(temperature, unknown));
            ct.ThrowIfCancellationRequested();
            report.Export = ExportChecker.Check(modelPath, inputs.LoadPixels(test), probabilities, (unknown.Scores(shippedTest), unknown.Threshold), ct: ct)
                with
            { Network = shipped.Model, ModelSha256 = modelSha256 };
        }
        ct.ThrowIfCancellationRequested();
        report.InputsHash = hash;
        if (doctor is not null) DoctorFindings.Apply(report, doctor, shippedTest.RelativePaths);
        var page = PageSources.For(config, "test split", dataset) with { Doctor = doctor };
        if (report.Comparison is { } other) page = page with { Compared = new ComparedResult(other.Model, other, CurveOf(config, other.Model)) };
        if (tunedShips)
            page = page with { LearningCurve = TrainingLog.TryRead(ArtifactPaths.FineTuneLog(config)), LearningCurvePath = ArtifactPaths.FineTuneLog(config) };
        EvaluationWriter.Write(config.ReportsDir, report, page);

        return new EvaluationOutcome(false, report, Summary(report), note);
    }

    /// <summary>The training log of a model: TrainHead's for the head alone, FineTune's for the fine-tuned network.</summary>
    private static IReadOnlyList<TrainingLogRow>? CurveOf(PipelineConfig config, string model) =>
        TrainingLog.TryRead(model == ShippedModel.HeadOnly ? ArtifactPaths.TrainingLog(config) : ArtifactPaths.FineTuneLog(config));

    private static int[] ClassCounts(LabelledVectors set)
    {
        var counts = new int[set.LabelNames.Length];
        foreach (var label in set.Labels) counts[label]++;
        return counts;
    }

    /// <summary>The stage's closing line: the shipped model's test accuracy first, with its count and interval, then the other model's.</summary>
    private static string Summary(EvaluationReport report)
    {
        if (report.Images == 0) return "Evaluate: the test split is empty (dataset.test_percent, or too few images): nothing to evaluate";
        var summary = $"Evaluate: ships {report.Model}: test accuracy {report.Accuracy}, top-{report.TopK} {report.TopKAccuracy.Percent}" +
                      DoctorFindings.AccuracyPart(report);
        if (report.Comparison is { } other) summary += $"; {other.Model}: {other.Accuracy.Percent}";
        if (report.Shipped is { } s && s.Validation.Length > 1) summary += $" (chosen on validation: {s.Reason})";
        if (report.Temperature is { } t)
            summary += string.Create(CultureInfo.InvariantCulture, $"; calibrated T = {t:0.###}, test ECE {report.EceBefore:0.000} -> {report.EceAfter:0.000}");
        if (report.Unknown is { } u)
            summary += string.Create(CultureInfo.InvariantCulture, $"; unknown past {u.Threshold:0.###} ({100 * u.FlaggedShareTest:0.0}% of test flagged)");
        if (report.Export is { } e)
            summary += string.Create(CultureInfo.InvariantCulture,
                $"; export {(e.Passed ? "agrees" : "DISAGREES")} ({100 * e.ArgmaxAgreement:0.0}%, max diff {e.MaxAbsProbabilityDifference:0.#e+0})");
        return summary + DoctorFindings.CountsPart(report);
    }

    /// <summary>
    /// The previous report when it was made from these very inputs, every output exists, its checksum vouches
    /// for it and model.onnx is the file whose SHA-256 it records. A report or model that fails its checksum
    /// is made again (the report re-run, the model re-exported), said in one line.
    /// </summary>
    private static EvaluationReport? IsUpToDate(PipelineConfig config, string hash)
    {
        var jsonPath = ArtifactPaths.EvaluationJson(config);
        var modelPath = ArtifactPaths.Model(config);
        if (!File.Exists(jsonPath) || (config.Evaluate.Export && !File.Exists(modelPath))) return null;
        if (!new[] { ArtifactPaths.EvaluationMarkdown(config), ArtifactPaths.ConfusionMatrix(config), ArtifactPaths.EvaluationPage(config) }.All(File.Exists))
            return null;
        EvaluationReport previous;
        try { previous = EvaluationReport.Read(jsonPath); }
        catch (DamagedArtifactException e)
        {
            Printable.WriteLine(e.RepairLine("evaluate", config.Workspace, "evaluating again"));
            return null;
        }
        if (previous.InputsHash != hash) return null;
        if (!config.Evaluate.Export) return previous;
        var shown = DamagedArtifactException.Display(modelPath, config.Workspace);
        if (previous.Export?.ModelSha256 is not { Length: > 0 } recorded)
            Printable.WriteLine($"evaluate: {shown} has no checksum in evaluation.json (written by an older version): exporting it again");
        else if (Sha256.OfFile(modelPath) != recorded)
            Printable.WriteLine($"evaluate: {shown} failed its checksum (not the SHA-256 evaluation.json records): exporting it again");
        else return previous;
        return null;
    }
}
