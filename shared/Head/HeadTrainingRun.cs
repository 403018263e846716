using BottleneckPipeline.Config;

namespace BottleneckPipeline.Head;

/// <summary>Where TrainHead writes: the head, its training log and its learning curve.</summary>
public sealed record HeadOutputPaths(string HeadPath, string LogCsvPath, string CurvePngPath)
{
    /// <summary>The standard layout: workspace/head.msgpack, reports/training_log.csv, reports/learning_curve.png.</summary>
    public static HeadOutputPaths For(PipelineConfig config) => new(
        Path.Combine(config.WorkspaceDir, "head.msgpack"),
        Path.Combine(config.ReportsDir, "training_log.csv"),
        Path.Combine(config.ReportsDir, "learning_curve.png"));

    public bool AllExist => File.Exists(HeadPath) && File.Exists(LogCsvPath) && File.Exists(CurvePngPath);
}

/// <summary>
/// The TrainHead stage's work once the vectors are in memory: train, then write the log, the
/// curve and (last, so its presence means the rest is there) the head artifact.
/// </summary>
public static class HeadTrainingRun
{
    /// <summary>True when a head trained on exactly these inputs exists with its log and curve.</summary>
    public static bool IsUpToDate(HeadOutputPaths paths, string inputsHash)
    {
        if (!paths.AllExist) return false;
        try
        {
            return HeadArtifact.Load(paths.HeadPath).InputsHash == inputsHash;
        }
        catch (Runtime.InputException)
        {
            return false;
        }
    }

    /// <param name="inputsHash">Hash of the train_head config section, the cache and the split: see <see cref="InputsHash"/>.</param>
    public static (HeadArtifact Artifact, HeadTrainingResult Result) Run(
        LabelledVectors train, LabelledVectors? validation, TrainHeadConfig config,
        string backboneName, string backboneFingerprint, string inputsHash, HeadOutputPaths paths,
        HeadTrainingOptions? options = null)
    {
        var result = HeadTrainer.Train(train, validation, config, options);
        TrainingLogWriter.WriteCsv(paths.LogCsvPath, result.Log);
        TrainingLogWriter.WritePlot(paths.CurvePngPath, result.Log, result.BestStep);
        var artifact = HeadArtifact.Create(result, config, backboneName, backboneFingerprint, inputsHash);
        artifact.Save(paths.HeadPath);
        return (artifact, result);
    }

    /// <summary>
    /// SHA-256 over the config hash and every vector used with its label, content id and split,
    /// so any change to the cache, labels, split or config makes the head stale.
    /// </summary>
    public static string InputsHash(string configHash, string backboneFingerprint, LabelledVectors train, LabelledVectors? validation)
    {
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        void Text(string s)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(s);
            sha.AppendData(BitConverter.GetBytes(bytes.Length));
            sha.AppendData(bytes);
        }
        Text(configHash);
        Text(backboneFingerprint);
        foreach (var (name, set) in new[] { ("train", train), ("validation", validation) })
        {
            Text(name);
            if (set is null) continue;
            foreach (var label in set.LabelNames) Text(label);
            for (var i = 0; i < set.Count; i++)
            {
                Text(set.ContentIds[i]);
                Text(set.RelativePaths[i]);
                sha.AppendData(BitConverter.GetBytes(set.Labels[i]));
                sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(set.Rows[i].AsSpan()));
            }
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
