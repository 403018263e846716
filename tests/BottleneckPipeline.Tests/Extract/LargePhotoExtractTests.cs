using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Extract;
using BottleneckPipeline.Index;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Extract;

public class LargePhotoExtractTests
{
    [Fact]
    public void Turning_libvips_on_decodes_only_the_large_photos_and_copies_the_small_ones_vectors()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 3);
        var cacheDir = t["cache"];
        var off = TestIndex.Config(t["off"], data, cacheDir, "extract:\n  libvips_min_pixels: 0\n");
        using (var db = IndexDb.Open(off.IndexPath))
        {
            TestIndex.Fill(db, data);
            Assert.Equal(6, ExtractStage.Run(off, db).Decoded);
        }

        // The same photos and one 3 MP JPEG, with the default policy (libvips from 1 MP).
        File.WriteAllBytes(Path.Combine(data, Path.GetFileName(Directory.GetDirectories(data).Order().First()), "large.jpg"),
            FlowerPhotos.Flower(2000, 1500, index: 5));
        var on = TestIndex.Config(t["on"], data, cacheDir);
        using var db2 = IndexDb.Open(on.IndexPath);
        TestIndex.Fill(db2, data);
        var run = ExtractStage.Run(on, db2);
        Assert.NotEqual(ExtractReport.Read(off).Fingerprint, run.Fingerprint);
        Assert.Equal(1, run.Decoded);
        Assert.Equal(1, run.Extracted);
        Assert.Equal(6, run.Reused);
        // The copies are the ImageSharp vectors, bit for bit.
        var before = BottleneckCache.Open(cacheDir, ExtractReport.Read(off).Fingerprint);
        var after = BottleneckCache.Open(cacheDir, run.Fingerprint);
        Assert.Equal(7, after.Count);
        foreach (var w in ExtractStage.ReadExamples(db2, data).Where(w => !w.RelPath.EndsWith("large.jpg")))
            Assert.Equal(before.Get(w.ContentId), after.Get(w.ContentId));
    }

    [Fact]
    public void A_corrupt_large_jpeg_is_quarantined_naming_the_file_and_the_run_goes_on()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 1, perClass: 2);
        var cls = Directory.GetDirectories(data).Single();
        File.WriteAllBytes(Path.Combine(cls, "broken-large.jpg"), FlowerPhotos.CorruptLargeJpeg());
        var config = TestIndex.Config(t.Path, data);
        using var db = IndexDb.Open(config.IndexPath);
        TestIndex.Fill(db, data);

        var run = ExtractStage.Run(config, db);
        Assert.Equal(2, run.Extracted);
        Assert.Equal(1, run.Quarantined);
        using var cmd = db.Command("SELECT rel_path, reason, kind FROM quarantine;");
        using var r = cmd.ExecuteReader();
        Assert.True(r.Read());
        Assert.Equal(Path.GetFileName(cls) + "/broken-large.jpg", r.GetString(0));
        Assert.StartsWith("cannot decode:", r.GetString(1));
        Assert.Equal("decode", r.GetString(2));
        Assert.False(r.Read());
    }
}
