using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Faults;

/// <summary>Damaged index and cache files: reported or repaired, never silently trusted.</summary>
[Trait("Category", "Faults")]
public class CorruptionTests
{
    [Fact]
    public void A_garbage_index_is_reported_with_its_path_and_exit_code_3()
    {
        using var t = new TempDir();
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 3));
        rig.RunOk("Ingest");
        foreach (var f in Directory.GetFiles(rig.Workspace, "index.sqlite*")) File.Delete(f);
        File.WriteAllBytes(rig.IndexPath, [.. Enumerable.Range(0, 8192).Select(i => (byte)(i * 31 + 7))]);

        foreach (var stage in FaultRig.Stages)
        {
            var r = rig.Run(stage);
            Assert.True(r.ExitCode == 3, $"{stage} exited {r.ExitCode}:\n{r.Output}");
            Assert.Contains(rig.IndexPath, r.StdErr, StringComparison.Ordinal);
            Assert.Contains("run Ingest again", r.StdErr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Damaged_cache_records_are_dropped_and_re_extracted_to_the_same_vectors()
    {
        using var t = new TempDir();
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 3, perClass: 4));
        rig.RunOk("Ingest");
        rig.RunOk("Extract");
        var original = rig.Vectors();
        var segment = Assert.Single(Directory.GetFiles(Path.Combine(rig.CacheDir, rig.Fingerprint), "*.bpv"));

        // Flipped bytes in the middle of the segment: inside some record's vector.
        var bytes = File.ReadAllBytes(segment);
        for (var i = 0; i < 4; i++) bytes[bytes.Length / 2 + i] ^= 0x5A;
        File.WriteAllBytes(segment, bytes);
        var repaired = rig.RunOk("Extract");
        Assert.True(rig.ExtractReport["extracted"]!.GetValue<int>() > 0, "nothing was re-extracted after damage:\n" + repaired.Output);
        Assert.Contains($"extract: 1 cache segment(s) failed a record's checksum or were cut short ({Path.GetFileName(segment)} from byte ",
            repaired.StdOut, StringComparison.Ordinal);
        FaultRig.AssertSameVectors(original, rig.Vectors());

        // A truncated tail: the last record is cut short.
        var last = Directory.GetFiles(Path.Combine(rig.CacheDir, rig.Fingerprint), "*.bpv").OrderByDescending(f => new FileInfo(f).LastWriteTimeUtc).First();
        using (var fs = new FileStream(last, FileMode.Open)) fs.SetLength(fs.Length - 100);
        Assert.Contains("the records from there on were dropped, and their images are embedded again", rig.RunOk("Extract").StdOut, StringComparison.Ordinal);
        Assert.True(rig.ExtractReport["extracted"]!.GetValue<int>() > 0, "a truncated record was trusted");
        FaultRig.AssertSameVectors(original, rig.Vectors());

        rig.RunOk("TrainHead");
        Assert.Contains("up to date", rig.RunOk("Extract").Output, StringComparison.Ordinal);
    }
}
