using BottleneckPipeline.Head;
using BottleneckPipeline.Tests.Fixtures;
using Xunit.Abstractions;

namespace BottleneckPipeline.Tests.Faults;

/// <summary>
/// A damaged artifact never yields a silent wrong result: the real file is damaged as a disk or a
/// hand would damage it, and the stage that reads it either rebuilds it (saying so in one line) or
/// refuses it with exit 3 and advice that works, never a changed result with exit 0.
/// </summary>
[Trait("Category", "Faults")]
[Collection(IntegrityRigCollection.Name)]
public class IntegrityTests(IntegrityRig rig, ITestOutputHelper output)
{
    [Fact]
    public void A_checkpoint_with_flipped_bytes_or_cut_short_is_discarded_with_a_line_and_training_restarts_to_the_uninterrupted_result()
    {
        try
        {
            var tuned = rig.Tuned;
            var damaged = new (string Name, byte[] Bytes, string Line)[]
            {
                ("16 bytes flipped mid-file", IntegrityRig.Flipped(rig.Checkpoint, rig.Checkpoint.Length / 2, 16),
                    "fine-tune: fine_tune/checkpoint.bin failed its checksum: discarded, training starts from scratch"),
                ("cut short", rig.Checkpoint[..(rig.Checkpoint.Length / 2)],
                    "fine-tune: fine_tune/checkpoint.bin has no checksum (written by an older version, or cut short): discarded, training starts from scratch"),
            };
            foreach (var (name, bytes, line) in damaged)
            {
                // The run is unfinished again (no manifest) and its checkpoint is the damaged one.
                File.Delete(rig.ManifestPath);
                File.WriteAllBytes(rig.CheckpointPath, bytes);
                var r = tuned.RunOk("FineTune");
                output.WriteLine($"{name}:\n{r.Output}");
                Assert.Contains(line, r.StdOut, StringComparison.Ordinal);
                Assert.True(File.ReadAllBytes(rig.TunedBackbonePath).AsSpan().SequenceEqual(rig.TunedBackbone), $"checkpoint {name}: the backbone differs");
                Assert.Equal(rig.TunedHead, IntegrityRig.Weights(rig.TunedHeadPath));
                Assert.False(File.Exists(rig.CheckpointPath));
            }
        }
        finally
        {
            rig.Restore(rig.Tuned);
        }
    }

    [Fact]
    public void A_damaged_fine_tuned_backbone_is_refused_by_Evaluate_and_rebuilt_by_FineTune_whose_up_to_date_check_verifies_it()
    {
        try
        {
            var tuned = rig.Tuned;
            var clean = File.ReadAllBytes(rig.TunedBackbonePath);
            File.WriteAllBytes(rig.TunedBackbonePath, IntegrityRig.Flipped(clean, clean.Length / 2, 16));

            var refused = tuned.Run("Evaluate");
            output.WriteLine(refused.Output);
            Assert.True(refused.ExitCode == 3, $"Evaluate exited {refused.ExitCode}:\n{refused.Output}");
            Assert.Contains("make fine-tune", refused.StdErr, StringComparison.Ordinal);

            // The advice: FineTune sees the damage (it is not up to date) and fine-tunes again, to the same network.
            var rebuilt = tuned.RunOk("FineTune");
            output.WriteLine(rebuilt.Output);
            Assert.DoesNotContain("up to date", rebuilt.StdOut, StringComparison.Ordinal);
            Assert.Contains("fine-tune: fine_tune/backbone.onnx failed its checksum: fine-tuning again", rebuilt.StdOut, StringComparison.Ordinal);
            Assert.True(File.ReadAllBytes(rig.TunedBackbonePath).AsSpan().SequenceEqual(rig.TunedBackbone), "the rebuilt backbone differs");
            Assert.Equal(rig.TunedHead, IntegrityRig.Weights(rig.TunedHeadPath));
            tuned.RunOk("Evaluate");
            Assert.Equal(rig.TunedFigures, IntegrityRig.Figures(tuned));
            Assert.Contains("FineTune: up to date", tuned.RunOk("FineTune").StdOut, StringComparison.Ordinal);
        }
        finally
        {
            rig.Restore(rig.Tuned);
        }
    }

    [Fact]
    public void A_model_onnx_cut_short_or_with_flipped_bytes_is_re_exported_never_up_to_date_and_predict_refuses_it()
    {
        var main = rig.Main;
        try
        {
            var damaged = new[]
            {
                ("16 bytes flipped", IntegrityRig.Flipped(rig.Model, rig.Model.Length / 2, 16)),
                ("cut short", rig.Model[..(rig.Model.Length - 1000)]),
            };
            foreach (var (name, bytes) in damaged)
            {
                File.WriteAllBytes(rig.ModelPath, bytes);
                var predicted = StageProcess.Run("Evaluate", "predict", "--config", main.ConfigPath, main.Dataset, "--out", "-");
                output.WriteLine($"{name}, predict:\n{predicted.Output}");
                Assert.True(predicted.ExitCode == 3, $"predict with a model.onnx {name} exited {predicted.ExitCode}:\n{predicted.Output}");
                Assert.Contains("make evaluate", predicted.StdErr, StringComparison.Ordinal);

                var r = main.RunOk("Evaluate");
                output.WriteLine($"{name}, Evaluate:\n{r.Output}");
                Assert.DoesNotContain("up to date", r.StdOut, StringComparison.Ordinal);
                Assert.Contains("evaluate: model.onnx failed its checksum (not the SHA-256 evaluation.json records): exporting it again", r.StdOut,
                    StringComparison.Ordinal);
                Assert.True(File.ReadAllBytes(rig.ModelPath).AsSpan().SequenceEqual(rig.Model), $"model.onnx {name}: the re-exported model differs");
                Assert.Equal(rig.MainFigures, IntegrityRig.Figures(main));
                Assert.Equal(0, StageProcess.Run("Evaluate", "predict", "--config", main.ConfigPath, main.Dataset, "--out", "-").ExitCode);
            }
        }
        finally
        {
            rig.Restore(main);
        }
    }

    [Fact]
    public void A_head_with_one_weights_exponent_changed_is_refused_by_Evaluate_even_without_its_report_and_retrained_by_TrainHead()
    {
        var main = rig.Main;
        try
        {
            File.WriteAllBytes(main.HeadPath, WithOneWeightBlownUp(File.ReadAllBytes(main.HeadPath), main.Head()));

            var refused = main.Run("Evaluate");
            output.WriteLine(refused.Output);
            Assert.True(refused.ExitCode == 3, $"Evaluate exited {refused.ExitCode} on a damaged head:\n{refused.Output}");
            Assert.Contains("make train-head", refused.StdErr, StringComparison.Ordinal);
            File.Delete(rig.EvaluationPath(main));
            refused = main.Run("Evaluate");
            Assert.True(refused.ExitCode == 3, $"Evaluate exited {refused.ExitCode} on a damaged head without evaluation.json:\n{refused.Output}");
            Assert.False(File.Exists(rig.EvaluationPath(main)), "a report was written from the damaged head");
            Assert.True(File.ReadAllBytes(rig.ModelPath).AsSpan().SequenceEqual(rig.Model), "model.onnx was exported from the damaged head");

            // The advice: TrainHead retrains, to the same head, and Evaluate then gives the clean figures.
            var retrained = main.RunOk("TrainHead");
            output.WriteLine(retrained.Output);
            Assert.Contains("train-head: head.msgpack failed its checksum: retraining", retrained.StdOut, StringComparison.Ordinal);
            Assert.Equal(rig.MainHead, IntegrityRig.Weights(main.HeadPath));
            main.RunOk("Evaluate");
            Assert.Equal(rig.MainFigures, IntegrityRig.Figures(main));
            Assert.Contains("TrainHead: up to date", main.RunOk("TrainHead").StdOut, StringComparison.Ordinal);
        }
        finally
        {
            rig.Restore(main);
        }
    }

    [Fact]
    public void A_damaged_shard_summary_is_ignored_with_a_line_and_the_finishing_Extract_makes_the_cache_whole()
    {
        // A workspace of its own over the rig's data and cache: the shard finds every vector there, and still reports.
        var sharded = new FaultRig(rig.Dir["sharded"], rig.Main.Dataset, rig.Main.CacheDir);
        sharded.RunOk("Ingest");
        var shard = StageProcess.Run("Extract", "--config", sharded.ConfigPath, "--shard", "0/2");
        Assert.True(shard.ExitCode == 0, shard.Output);
        var summary = Path.Combine(sharded.ReportsDir, "shards", "extract-0-of-2.json");
        File.WriteAllBytes(summary, IntegrityRig.Flipped(File.ReadAllBytes(summary), 40, 1));

        var r = sharded.RunOk("Extract");
        output.WriteLine(r.Output);
        Assert.Contains("extract: reports/shards/extract-0-of-2.json failed its checksum: ignored", r.StdOut, StringComparison.Ordinal);
        Assert.False(File.Exists(summary));
        Assert.Equal(rig.Main.Fingerprint, sharded.Fingerprint);
        Assert.Contains("extract: up to date", sharded.RunOk("Extract").StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void Files_written_before_checksums_are_rebuilt_once_with_a_line_never_trusted_and_never_an_internal_error()
    {
        var (main, tuned) = (rig.Main, rig.Tuned);
        const string old = "has no checksum (written by an older version, or cut short)";
        try
        {
            // As the versions before checksums wrote them: the head without its trailer, the JSON files without their checksum member.
            var head = File.ReadAllBytes(main.HeadPath);
            File.WriteAllBytes(main.HeadPath, head[..^40]);
            foreach (var report in new[] { "ingest.json", "extract.json", "evaluation.json" }) WithoutChecksum(Path.Combine(main.ReportsDir, report));
            WithoutChecksum(rig.ManifestPath, "backbone_sha256", "head_sha256");

            var lines = new List<string>();
            foreach (var (stage, line, rerun) in new[]
            {
                ("Ingest", $"ingest: reports/ingest.json {old}: writing it again", null),
                ("Extract", $"extract: reports/extract.json {old}: checking the cache and writing it again", "extract: up to date"),
                ("TrainHead", $"train-head: head.msgpack {old}: retraining", "TrainHead: up to date"),
                ("Evaluate", $"evaluate: reports/evaluation.json {old}: evaluating again", "(up to date)"),
            })
            {
                var r = main.RunOk(stage);
                lines.Add(r.StdOut);
                Assert.Contains(line, r.StdOut, StringComparison.Ordinal);
                if (rerun is not null) Assert.Contains(rerun, main.RunOk(stage).StdOut, StringComparison.Ordinal);
            }
            output.WriteLine(string.Join("\n", lines));
            Assert.Equal(rig.MainHead, IntegrityRig.Weights(main.HeadPath));
            Assert.Equal(rig.MainFigures, IntegrityRig.Figures(main));
            Assert.True(File.ReadAllBytes(rig.ModelPath).AsSpan().SequenceEqual(rig.Model), "model.onnx differs");

            // Evaluate refuses the old manifest (exit 3), and FineTune, as it advises, fine-tunes again.
            var refused = tuned.Run("Evaluate");
            Assert.True(refused.ExitCode == 3, $"Evaluate exited {refused.ExitCode}:\n{refused.Output}");
            Assert.Contains("make fine-tune", refused.StdErr, StringComparison.Ordinal);
            var rebuilt = tuned.RunOk("FineTune");
            output.WriteLine(rebuilt.Output);
            Assert.Contains($"fine-tune: fine_tune/fine_tuned.json {old}: fine-tuning again", rebuilt.StdOut, StringComparison.Ordinal);
            Assert.True(File.ReadAllBytes(rig.TunedBackbonePath).AsSpan().SequenceEqual(rig.TunedBackbone), "the fine-tuned backbone differs");
            Assert.Contains("FineTune: up to date", tuned.RunOk("FineTune").StdOut, StringComparison.Ordinal);
        }
        finally
        {
            rig.Restore(main);
            rig.Restore(tuned);
        }
    }

    /// <summary>A JSON artifact as an older version wrote it: no checksum member, nor the members given.</summary>
    private static void WithoutChecksum(string path, params string[] members)
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        foreach (var member in members.Append("checksum")) Assert.True(json.Remove(member), $"{path} has no '{member}'");
        if (json["export"] is System.Text.Json.Nodes.JsonObject export) export.Remove("model_sha256");
        File.WriteAllText(path, json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>The head file with the exponent byte of one of its weights changed (MessagePack stores a float32 as
    /// 0xCA and four big-endian bytes, sign and exponent first): that weight becomes about 2^30 times larger.</summary>
    private static byte[] WithOneWeightBlownUp(byte[] file, HeadArtifact head)
    {
        for (var k = 0; k < head.Weights.Length; k++)
        {
            var encoded = new byte[5];
            encoded[0] = 0xCA;
            System.Buffers.Binary.BinaryPrimitives.WriteSingleBigEndian(encoded.AsSpan(1), head.Weights[k]);
            if (Math.Abs(head.Weights[k]) < 1e-3 || encoded[1] is >= 0x40 and < 0x80 or >= 0xC0) continue;
            var at = file.AsSpan().IndexOf(encoded);
            if (at < 0 || file.AsSpan(at + 1).IndexOf(encoded) >= 0) continue; // not found, or not once only
            var damaged = (byte[])file.Clone();
            damaged[at + 1] += 0x0F;
            return damaged;
        }
        throw new InvalidOperationException("no weight found to damage");
    }
}
