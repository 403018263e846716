using System.Text.Json.Nodes;
using BottleneckPipeline.Tests.Fixtures;
using PuppeteerSharp;

namespace BottleneckPipeline.Tests.Report;

/// <summary>
/// The pages of a dataset of hostile names (<see cref="HostileDataset"/>) in a real Chromium: every name
/// reads as it is stored, in order, and moves no text around it; no script but the page's own runs, and
/// its own still does; each link opens the very file it names. Each check is a script the page evaluates.
/// </summary>
[Collection(HostileDatasetCollection.Name)]
public class HostileNamesPageTests(HostileDataset run)
{
    /// <summary>
    /// Every character of every text in the page (the learning curve's drawing aside) laid out after the one before
    /// it: to its right on the same line, or on a line below. A bidirectional override that acts shows text
    /// backwards, and names the first text it turned.
    /// </summary>
    private const string TextOutOfOrder = """
        (() => {
          for (const f of document.querySelectorAll('#gallery figure')) f.style.contentVisibility = 'visible';
          const walker = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT,
            { acceptNode: n => n.parentElement.closest('svg, [hidden]') ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT });
          const range = document.createRange();
          for (let n; (n = walker.nextNode());) {
            let before = null;
            for (let i = 0; i < n.length; i++) {
              if (/\s/.test(n.data[i])) continue;
              range.setStart(n, i); range.setEnd(n, i + 1);
              const box = range.getBoundingClientRect();
              if (box.width === 0) continue;
              const sameLine = before && Math.abs(box.top - before.top) < 2;
              if (before && (sameLine ? box.left < before.right - 1 : box.top < before.top)) return n.data;
              before = box;
            }
          }
          return '';
        })()
        """;

    /// <summary>What an injected script or handler would leave behind, and the page's own script's mark (the filter's status line).</summary>
    private const string Aftermath = """
        [typeof window.pwned, typeof window.injected, document.scripts.length,
         document.querySelectorAll('[onerror], [onload], [onclick], [onmouseover]').length,
         [...document.images].filter(i => !i.src.startsWith('data:image/jpeg;base64,')).length,
         performance.getEntriesByType('resource').length,
         document.getElementById('filter-status').textContent]
        """;

    [ChromiumFact]
    public async Task The_test_split_page_shows_every_name_as_it_is_in_order_and_runs_its_own_script_alone()
    {
        await using var browser = await Chromium.StartAsync();
        var page = await browser.OpenPageAsync(Path.Combine(run.ReportsDir, "evaluation.html"));
        var figures = run.Report["misclassified"]!.AsArray().Count;
        await AssertOnlyItsOwnScriptRan(page, figures);
        Assert.Equal("", (await Eval(page, TextOutOfOrder)).GetValue<string>());
        var labels = HostileNames.Classes.Select(HostileNames.Shown).ToList();
        Assert.Equal(labels, await Strings(page, "[...document.querySelectorAll('#confusion thead th')].slice(1).map(t => t.textContent)"));
        Assert.Equal(labels, await Strings(page, "[...document.querySelectorAll('#confusion tbody th')].map(t => t.textContent)"));
        Assert.Equal(run.Report["misclassified"]!.AsArray().Select(m => HostileNames.Shown(m!["path"]!.GetValue<string>())),
            await Strings(page, "[...document.querySelectorAll('#gallery small')].map(s => s.textContent)"));
        await Chromium.ScreenshotAsync(page, "hostile-names-page");
    }

    [ChromiumFact]
    public async Task The_scored_page_names_each_photo_as_it_is_in_order_and_each_link_opens_that_photo()
    {
        var mistakes = run.ScoredReport["misclassified"]!.AsArray().Select(m => m!["path"]!.GetValue<string>()).ToList();
        Assert.Equal(run.ScoredFiles, mistakes.Count);
        List<string> links;
        await using (var browser = await Chromium.StartAsync())
        {
            var page = await browser.OpenPageAsync(run.ScoredPage);
            await AssertOnlyItsOwnScriptRan(page, mistakes.Count);
            Assert.Equal("Evaluation: " + HostileNames.Shown(run.Scored), (await Eval(page, "document.title")).GetValue<string>());
            Assert.Equal(mistakes.Select(HostileNames.Shown), await Strings(page, "[...document.querySelectorAll('#gallery small')].map(s => s.textContent)"));
            Assert.Equal(mistakes.Select(HostileNames.Shown), await Strings(page, "[...document.querySelectorAll('#gallery img')].map(i => i.alt)"));
            Assert.Equal("", (await Eval(page, TextOutOfOrder)).GetValue<string>());

            // The filter (the page's own script) names the pair it shows, each name isolated, and the line still reads in order.
            var pair = (await Eval(page, """
                (() => {
                  const b = document.querySelector('#confusion button');
                  b.click();
                  const shown = [...document.querySelectorAll('#gallery figure')].filter(f => !f.hidden).length;
                  const names = [...document.querySelectorAll('#filter-status bdi')].map(x => x.textContent);
                  return [b.dataset.t, b.dataset.p, b.textContent, String(shown), ...names];
                })()
                """)).AsArray().Select(x => x!.GetValue<string>()).ToList();
            Assert.Equal(pair[2], pair[3]);
            string Label(string index) => HostileNames.Shown(HostileNames.Classes[int.Parse(index, System.Globalization.CultureInfo.InvariantCulture)]);
            Assert.Equal([Label(pair[0]), Label(pair[1])], pair[4..]);
            Assert.Equal("", (await Eval(page, TextOutOfOrder)).GetValue<string>());

            links = await Strings(page, "[...document.querySelectorAll('#gallery figure > a')].map(a => a.href)");
            Assert.Equal(mistakes.Select(m => Path.Join(run.Scored, m)), links.Select(HostileDataset.FilePathOf));
        }

        // Opened, '%41', '#' and the override each give their own photo, not a namesake's ('%41' and 'A' differ in size).
        foreach (var name in new[] { HostileNames.PercentName, HostileNames.PercentDecoy, HostileNames.HashName, HostileNames.RloName })
        {
            var link = links[mistakes.FindIndex(m => m.EndsWith("/" + name, StringComparison.Ordinal))];
            await using var browser = await Chromium.StartAsync();
            var page = await browser.OpenPageAsync(link);
            var opened = (await Eval(page, "[document.contentType, document.images[0].naturalWidth, document.images[0].naturalHeight]")).AsArray();
            var size = HostileDataset.Size(HostileDataset.FilePathOf(link));
            Assert.Equal(("image/jpeg", size.Width, size.Height), (opened[0]!.GetValue<string>(), opened[1]!.GetValue<int>(), opened[2]!.GetValue<int>()));
        }
    }

    [ChromiumFact]
    public async Task An_inline_script_that_an_escaping_slip_let_into_the_page_is_blocked_by_its_policy()
    {
        using var dir = new TempDir();
        var html = File.ReadAllText(run.ScoredPage);
        Assert.Contains("</main>", html);
        var slip = "<script>window.injected = 1</script><img src=x onerror=\"window.injected = 2\">";
        File.WriteAllText(dir["slipped.html"], html.Replace("</main>", slip + "</main>"));
        await using var browser = await Chromium.StartAsync();
        var page = await browser.OpenPageAsync(dir["slipped.html"]);
        var after = (await Eval(page, Aftermath)).AsArray();
        Assert.Equal("undefined", after[1]!.GetValue<string>());
        Assert.Equal($"all {run.ScoredFiles}", after[6]!.GetValue<string>()); // while the page's own script ran
    }

    private static async Task AssertOnlyItsOwnScriptRan(IPage page, int figures)
    {
        var after = (await Eval(page, Aftermath)).AsArray();
        Assert.Equal(("undefined", "undefined", 1, 0, 0, 0), (after[0]!.GetValue<string>(), after[1]!.GetValue<string>(), after[2]!.GetValue<int>(),
            after[3]!.GetValue<int>(), after[4]!.GetValue<int>(), after[5]!.GetValue<int>()));
        Assert.Equal($"all {figures}", after[6]!.GetValue<string>());
    }

    private static async Task<List<string>> Strings(IPage page, string expression) =>
        [.. (await Eval(page, expression)).AsArray().Select(x => x!.GetValue<string>())];

    /// <summary>The value of a script in the page, through JSON.</summary>
    private static async Task<JsonNode> Eval(IPage page, string expression) =>
        JsonNode.Parse(await page.EvaluateExpressionAsync<string>($"JSON.stringify({expression.Trim()})"))!;
}
