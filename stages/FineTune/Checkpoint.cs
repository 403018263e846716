using System.Text;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Head;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Training;

namespace BottleneckPipeline.FineTune;

/// <summary>
/// fine_tune/checkpoint.bin: a <see cref="TrainingState"/> written atomically at the end of every
/// epoch, its SHA-256 after it (<see cref="ChecksumTrailer"/>). The arrays are raw little-endian
/// floats, the bytes as they are in memory: the state holds the trainable weights twice and the
/// optimizer's state, millions of floats each epoch, which a generic serializer would convert one by
/// one. A checkpoint that fails its checksum, has none (cut short, or of an older version), or is of
/// other inputs is discarded with a line saying so, and training starts from scratch.
/// </summary>
internal static class Checkpoint
{
    private const string Magic = "BPFTCK04";

    public static void Save(string path, TrainingState s) => ChecksumTrailer.Write(path, stream =>
    {
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(Encoding.ASCII.GetBytes(Magic));
        w.Write(s.InputsHash);
        w.Write(s.EpochsDone);
        w.Write(s.OptimizerSteps);
        w.Write(s.Stopping.BestAt);
        w.Write(s.Stopping.Best.Accuracy);
        w.Write(s.Stopping.Best.Loss);
        w.Write(s.Stopping.WithoutImprovement);
        w.Write(s.StoppedEarly);
        WriteFloats(w, s.Weights);
        WriteFloats(w, s.BestWeights);
        w.Write(s.OptimizerState.Length);
        foreach (var a in s.OptimizerState) WriteFloats(w, a);
        w.Write(s.Log.Count);
        foreach (var r in s.Log)
        {
            w.Write(r.Epoch); w.Write(r.Step); w.Write(r.TrainLoss); w.Write(r.TrainAccuracy);
            w.Write(r.ValidationLoss); w.Write(r.ValidationAccuracy); w.Write(r.Seconds); w.Write(r.ImagesPerSecond);
        }
        w.Flush();
    });

    private const string StartOver = "discarded, training starts from scratch";

    /// <summary>The checkpoint at <paramref name="path"/> when it exists, its checksum vouches for it and it belongs to these inputs.</summary>
    /// <param name="patience">fine_tune.patience, for the restored <see cref="TrainingState.Stopping"/> (part of the inputs hash).</param>
    /// <param name="workspace">for the line: the checkpoint's path is shown relative to it.</param>
    public static CheckpointLoad TryLoad(string path, string inputsHash, int patience, string workspace)
    {
        if (!File.Exists(path)) return new(null, null);
        long payload;
        try { payload = ChecksumTrailer.Verify(path, "it is discarded"); }
        catch (DamagedArtifactException e) { return new(null, e.RepairLine("fine-tune", workspace, StartOver)); }
        var shown = DamagedArtifactException.Display(path, workspace);
        try
        {
            using var r = new BinaryReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16), Encoding.UTF8);
            if (Encoding.ASCII.GetString(r.ReadBytes(Magic.Length)) != Magic)
                return new(null, $"fine-tune: {shown} {DamagedArtifactException.Problem(ArtifactFault.OtherFormat)}: {StartOver}");
            if (r.ReadString() != inputsHash)
                return new(null, $"fine-tune: {shown} was written for other inputs (fine_tune settings, head or data): {StartOver}");
            var (epochs, steps, bestEpoch, bestAccuracy, bestLoss, without, stopped) =
                (r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadDouble(), r.ReadDouble(), r.ReadInt32(), r.ReadBoolean());
            var weights = ReadFloats(r);
            var best = ReadFloats(r);
            var optimizer = new float[r.ReadInt32()][];
            for (var i = 0; i < optimizer.Length; i++) optimizer[i] = ReadFloats(r);
            var log = new List<EpochRow>();
            for (var n = r.ReadInt32(); n > 0; n--)
                log.Add(new EpochRow(r.ReadInt32(), r.ReadInt32(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble(),
                    r.ReadDouble(), r.ReadDouble()));
            if (r.BaseStream.Position != payload) throw new InvalidDataException("the state does not end where its checksum begins");
            return new(new TrainingState
            {
                InputsHash = inputsHash,
                EpochsDone = epochs,
                OptimizerSteps = steps,
                Stopping = EarlyStopping.Restore(patience, new SplitScore(bestLoss, bestAccuracy), bestEpoch, without),
                StoppedEarly = stopped,
                Weights = weights,
                BestWeights = best,
                OptimizerState = optimizer,
                Log = log,
            }, null);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or ArgumentException or OverflowException or InvalidDataException)
        {
            // Its checksum holds, so another version wrote it in a layout this one misreads.
            return new(null, $"fine-tune: {shown} {DamagedArtifactException.Problem(ArtifactFault.OtherFormat)}: {StartOver}");
        }
    }

    private static void WriteFloats(BinaryWriter w, float[] values)
    {
        w.Write(values.Length);
        w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
    }

    private static float[] ReadFloats(BinaryReader r)
    {
        var n = r.ReadInt32();
        if (n < 0) throw new ArgumentException("negative length");
        var values = new float[n];
        r.BaseStream.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        return values;
    }
}
