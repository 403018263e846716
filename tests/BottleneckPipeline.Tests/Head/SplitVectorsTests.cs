using System.Security.Cryptography;
using System.Text;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Head;

/// <summary>How the head's vectors are held: straight from the cache into one matrix per split, float16 past a budget.</summary>
public class SplitVectorsTests
{
    private const string Fp = "fingerprint-split-vectors";
    private const int Dim = 24;

    private static string Id(int i) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("row " + i)));

    private static float[] Vector(int i) => [.. Enumerable.Range(0, Dim).Select(k => (float)Math.Sin(i * 7.3 + k) * 3.7f)];

    /// <summary>An index of n examples (split by i % 10: 8 train, 1 validation, 1 test) and a cache holding the first `cached` of them.</summary>
    private static IndexDb Build(TempDir t, int n, int cached)
    {
        var db = IndexDb.Open(t["index.sqlite"]);
        using var tx = db.Begin();
        db.Exec("INSERT INTO classes(label_id, name) VALUES (0, 'a'), (1, 'b');", tx);
        using var insert = db.Command("INSERT INTO examples(content_id, class, split, rel_path) VALUES ($id, $c, $s, $p);", tx);
        var (id, c, s, p) = (
            insert.Parameters.Add("$id", Microsoft.Data.Sqlite.SqliteType.Text),
            insert.Parameters.Add("$c", Microsoft.Data.Sqlite.SqliteType.Text),
            insert.Parameters.Add("$s", Microsoft.Data.Sqlite.SqliteType.Text),
            insert.Parameters.Add("$p", Microsoft.Data.Sqlite.SqliteType.Text));
        for (var i = 0; i < n; i++)
        {
            (id.Value, c.Value, s.Value, p.Value) = (Id(i), i % 2 == 0 ? "a" : "b", (i % 10) switch { 8 => "validation", 9 => "test", _ => "train" },
                $"{(i % 2 == 0 ? "a" : "b")}/{i}.jpg");
            insert.ExecuteNonQuery();
        }
        tx.Commit();
        using var writer = new CacheWriter(t["cache"], Fp, VectorPrecision.Float32);
        for (var i = 0; i < cached; i++) writer.Append(Id(i), Vector(i));
        return db;
    }

    [Fact]
    public void Splits_load_in_one_pass_as_float32_or_past_the_budget_as_float16()
    {
        using var t = new TempDir();
        using var db = Build(t, 200, 200);
        var exact = SplitVectors.Load(db, t["cache"], Fp, ["train", "validation", "test"], ["a", "b"], false);
        Assert.Equal([160, 20, 20], exact.Select(s => s.Count));
        Assert.All(exact, s => Assert.False(s.Vectors.IsHalf));
        var small = SplitVectors.Load(db, t["cache"], Fp, ["train", "validation"], ["a", "b"], false, float32Budget: 180 * Dim * 4 - 1);
        Assert.All(small, s => Assert.True(s.Vectors.IsHalf));
        Assert.Equal(exact[0].Vectors.Bytes / 2, small[0].Vectors.Bytes);

        var cache = BottleneckCache.Open(t["cache"], Fp);
        for (var s = 0; s < 2; s++)
            for (var i = 0; i < exact[s].Count; i++)
            {
                var id = exact[s].ContentIds[i];
                Assert.Equal(small[s].ContentIds[i], id);
                Assert.Equal(exact[s].Labels[i], small[s].Labels[i]);
                var stored = cache.Get(id)!;
                Assert.Equal(stored, exact[s].Rows[i]); // float32: the cache's values exactly
                Assert.Equal(stored.Select(v => (float)(Half)v), small[s].Rows[i]); // float16: each rounded once
            }
    }

    [Fact]
    public void A_missing_vector_names_its_split_and_file()
    {
        using var t = new TempDir();
        using var db = Build(t, 50, 40);
        var e = Assert.Throws<InputException>(() => SplitVectors.Load(db, t["cache"], Fp, ["train", "validation"], ["a", "b"], false));
        Assert.Contains("9 train, validation image(s) have no cached vector", e.Message);
        // Train rows come first, in content id order: the first missing is the smallest id among 40..47.
        var first = Enumerable.Range(40, 8).MinBy(Id, StringComparer.Ordinal);
        Assert.Contains($"(first: {(first % 2 == 0 ? "a" : "b")}/{first}.jpg)", e.Message);
    }

    [Fact]
    public void Excluded_images_are_left_out_of_every_split_and_need_no_cached_vector()
    {
        using var t = new TempDir();
        using var db = Build(t, 50, 48); // rows 48 and 49 (validation, test) have no vector: excluded, they are not missed
        var list = ExcludeList.Parse($"a/0.jpg\n{Id(48)}\nb/49.jpg\n# b/1.jpg\nb/99.jpg\n");
        var excluded = ExcludedImages.Of(t["exclude.txt"], list, db, "/photos");
        Assert.Equal([1, 1, 1], new[] { "train", "validation", "test" }.Select(s => excluded.BySplit[s]));
        Assert.Equal([$"{t["exclude.txt"]}:5: no image in the index has the path 'b/99.jpg' (relative to dataset.root, /photos); " +
                      "nothing is left out for this line. Check its spelling, or whether the photo was moved or deleted"], excluded.Warnings);
        var sets = SplitVectors.Load(db, t["cache"], Fp, ["train", "validation", "test"], ["a", "b"], false, excluded: excluded.ContentIds);
        Assert.Equal([39, 4, 4], sets.Select(s => s.Count));
        Assert.All(sets, s => Assert.DoesNotContain(s.ContentIds, excluded.ContentIds.Contains));
        Assert.DoesNotContain("a/0.jpg", sets[0].RelativePaths);
        // The hash is of the contents: the same images named another way hash the same; nothing excluded adds nothing to a stage's hash.
        var same = ExcludedImages.Of(t["other.txt"], ExcludeList.Parse($"b/49.jpg # the test row\n{Id(0)}\na/48.jpg\n"), db, "/photos");
        Assert.Equal(excluded.Hash, same.Hash);
        Assert.Equal("", ExcludedImages.Of(t["none.txt"], ExcludeList.Parse("b/99.jpg\n"), db, "/photos").HashLine);
        Assert.Equal("", ExcludedImages.None.HashLine);
    }

    [Fact]
    public void An_exclude_line_is_the_path_where_it_reads_back_as_itself_and_the_content_id_elsewhere()
    {
        var id = Id(1);
        Assert.Equal("roses/1.jpg", ExcludeList.LineFor("roses/1.jpg", id));
        Assert.Equal("roses/a b.jpg", ExcludeList.LineFor("roses/a b.jpg", id));
        foreach (var awkward in new[] { "roses/a #1.jpg", "#roses/1.jpg", "roses/1.jpg ", ".hidden/1.jpg", "roses/a\nb.jpg", "roses\\1.jpg", id })
            Assert.Equal(id, ExcludeList.LineFor(awkward, id));
    }

    [Fact]
    public void A_matrix_reads_back_across_its_chunks()
    {
        foreach (var half in new[] { false, true })
        {
            var m = new VectorMatrix(7, 3, half, chunkValues: 7); // two rows per chunk, four chunks
            for (var i = 0; i < 7; i++) m.Set(i, [i, i + 0.5f, -i]);
            var block = new float[5 * 3];
            m.CopyRows(1, 5, block);
            Assert.Equal(Enumerable.Range(1, 5).SelectMany(i => new[] { i, i + 0.5f, -i }), block);
            Assert.Equal([6f, 6.5f, -6f], m[6]);
            Assert.Equal(7, m.Count);
        }
    }
}
