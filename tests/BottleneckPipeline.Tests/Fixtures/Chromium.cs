using System.Globalization;
using PuppeteerSharp;

namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>
/// A real headless Chromium, the machine's own (never a downloaded one), driven by PuppeteerSharp:
/// <see cref="OpenPageAsync"/> gives a PuppeteerSharp page to evaluate script in, click and resize;
/// <see cref="ScreenshotAsync"/> keeps a PNG of it for a person to look at.
/// </summary>
public sealed class Chromium : IAsyncDisposable
{
    private const int TimeoutMs = 60_000;

    /// <summary>The browser executable: $BP_CHROMIUM, else chromium (Debian), chromium-browser or google-chrome on the PATH; null when none.</summary>
    public static string? Executable { get; } = Find();

    /// <summary>Screenshots stay after the run, beside the build output.</summary>
    public static string ScreenshotDir { get; } = Path.Combine(RepoPaths.Root, ".artifacts", "test-screenshots");

    private readonly IBrowser _browser;
    private readonly TempDir _profile;
    private readonly List<string> _errors = [];

    private Chromium(IBrowser browser, TempDir profile)
    {
        _browser = browser;
        _profile = profile;
    }

    /// <param name="downloadDir">where a download the page makes is saved (under its own name); null: downloads are refused.</param>
    public static async Task<Chromium> StartAsync(int width = 1100, int height = 900, string? downloadDir = null)
    {
        var exe = Executable ?? throw new InvalidOperationException("Chromium is not installed");
        var profile = new TempDir();
        try
        {
            var browser = await Puppeteer.LaunchAsync(new LaunchOptions
            {
                ExecutablePath = exe,
                Headless = true,
                UserDataDir = profile.Path,
                DefaultViewport = new ViewPortOptions { Width = width, Height = height },
                Timeout = TimeoutMs,
                DownloadBehavior = downloadDir is null ? null : new DownloadBehavior { Policy = DownloadPolicy.Allow, DownloadPath = downloadDir },
                // Headless as root needs --no-sandbox; the rest keeps it from reaching the network on its own.
                Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions"],
            });
            return new Chromium(browser, profile);
        }
        catch
        {
            profile.Dispose();
            throw;
        }
    }

    /// <summary>
    /// What went wrong in the pages opened so far: console errors (Chromium's own among them, such
    /// as a load the Content-Security-Policy refused) and uncaught script exceptions.
    /// </summary>
    public IReadOnlyList<string> Errors
    {
        get { lock (_errors) return [.. _errors]; }
    }

    /// <summary>A new tab showing the file (or URL), once it has loaded: every image embedded in it included.</summary>
    public async Task<IPage> OpenPageAsync(string pathOrUrl)
    {
        var page = await _browser.NewPageAsync();
        page.DefaultTimeout = TimeoutMs;
        page.Console += (_, e) =>
        {
            if (e.Message.Type == ConsoleType.Error) lock (_errors) _errors.Add(e.Message.Text);
        };
        page.PageError += (_, e) => { lock (_errors) _errors.Add(e.Message); };
        await OpenAsync(page, pathOrUrl);
        return page;
    }

    /// <summary>Opens the file (or URL) in an open tab, and waits until it has loaded.</summary>
    public static async Task OpenAsync(IPage page, string pathOrUrl)
    {
        // A URL as it is (a file: link taken from a page included); a path made a file: URL.
        var url = pathOrUrl.StartsWith("file:", StringComparison.Ordinal) || (Uri.TryCreate(pathOrUrl, UriKind.Absolute, out var uri) && !uri.IsFile)
            ? pathOrUrl
            : new Uri(Path.GetFullPath(pathOrUrl)).AbsoluteUri;
        var response = await page.GoToAsync(url, TimeoutMs, [WaitUntilNavigation.Load]);
        if (response is { Ok: false }) throw new InvalidOperationException($"{url}: {response.Status}");
    }

    /// <summary>
    /// A PNG of the whole page, beyond the viewport, or of the first element that matches
    /// <paramref name="selector"/>, kept in <see cref="ScreenshotDir"/> under that name; its path.
    /// </summary>
    public static async Task<string> ScreenshotAsync(IPage page, string name, string? selector = null)
    {
        Directory.CreateDirectory(ScreenshotDir);
        var path = Path.Combine(ScreenshotDir, name + ".png");
        if (selector is null) await page.ScreenshotAsync(path, new ScreenshotOptions { FullPage = true, Type = ScreenshotType.Png });
        else await (await page.QuerySelectorAsync(selector) ?? throw new InvalidOperationException($"no {selector} on the page")).ScreenshotAsync(path);
        return path;
    }

    /// <summary>
    /// CPU time used so far by the browser and all its child processes (renderer, GPU, network), from
    /// /proc: unlike wall time, it hardly changes when other work shares the machine's cores.
    /// </summary>
    public TimeSpan CpuTime()
    {
        var parents = new Dictionary<int, int>();
        var ticks = new Dictionary<int, long>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            string stat;
            try { stat = File.ReadAllText(Path.Combine(dir, "stat")); } catch (IOException) { continue; } catch (UnauthorizedAccessException) { continue; }
            // Fields after the command name (which may hold spaces), from field 3 on: state, ppid, ... utime (14), stime (15).
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            parents[pid] = int.Parse(fields[1], CultureInfo.InvariantCulture);
            ticks[pid] = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        }
        var tree = new HashSet<int> { _browser.Process.Id };
        for (var grew = true; grew;)
        {
            grew = false;
            foreach (var (pid, parent) in parents)
                if (tree.Contains(parent) && tree.Add(pid)) grew = true;
        }
        const double ticksPerSecond = 100; // USER_HZ on Linux
        return TimeSpan.FromSeconds(tree.Sum(pid => ticks.GetValueOrDefault(pid)) / ticksPerSecond);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _browser.CloseAsync();
        }
        finally
        {
            await _browser.DisposeAsync();
            _profile.Dispose();
        }
    }

    private static string? Find()
    {
        if (Environment.GetEnvironmentVariable("BP_CHROMIUM") is { Length: > 0 } configured) return File.Exists(configured) ? configured : null;
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return new[] { "chromium", "chromium-browser", "google-chrome" }
            .SelectMany(name => path.Split(':', StringSplitOptions.RemoveEmptyEntries).Select(dir => Path.Combine(dir, name)))
            .FirstOrDefault(File.Exists);
    }
}

/// <summary>A test that needs Chromium: skipped, with a note saying so, where it is not installed.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (Chromium.Executable is null)
            Skip = "Chromium is not installed here (apt-get install chromium, or set BP_CHROMIUM): the page is not checked in a browser.";
    }
}
